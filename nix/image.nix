# OCI image ilp-connector:latest, the same image as the Dockerfile's: an
# empty root with the statically linked binary at /bin/ilp-connector (musl,
# from the pkgsStatic build in nix/package.nix), /etc/passwd, /etc/group and
# /etc/nsswitch.conf (the very files of docker/image/etc), an empty /data
# owned by the image's user (docker/deployment.json dataDir, as the
# Dockerfile's `COPY --chown`: the books' volume takes its owner), and the
# configuration of nix/image-config.nix (docker/deployment.json). No shell,
# no libc, no store paths: the root's derivation may reference nothing, so
# the image is the binary and three small files (about 4-5 MB; the budget is
# 10 MB, checked by checks.image-size).
{
  pkgs,
  ilp-connector-static,
}:
let
  inherit (pkgs) lib;
  d = (import ./lib.nix { inherit lib; }).deployment;
  rootfs = pkgs.runCommand "ilp-connector-rootfs" { allowedReferences = [ ]; } ''
    mkdir -p $out/bin $out/etc
    cp ${ilp-connector-static}/bin/ilp-connector $out${d.binary}
    chmod 0755 $out${d.binary}
    cp ${../docker/image/etc}/passwd ${../docker/image/etc}/group ${../docker/image/etc}/nsswitch.conf $out/etc/
    # Static: no program interpreter (it would be missing in an empty root).
    if ${pkgs.binutils-unwrapped}/bin/readelf -l $out${d.binary} | grep -q 'program interpreter'; then
      echo "${d.binary} is dynamically linked" >&2
      exit 1
    fi
  '';
in
pkgs.dockerTools.buildLayeredImage {
  inherit (d.image) name tag;
  contents = [ rootfs ];
  # Store paths are root's: the books' directory is made, and given to the
  # user, in the image's own layer (under fakeroot).
  fakeRootCommands = ''
    mkdir -p .${d.dataDir}
    chown ${toString d.user.uid}:${toString d.user.gid} .${d.dataDir}
    chmod 0755 .${d.dataDir}
  '';
  config = import ./image-config.nix { inherit lib; };
  passthru = { inherit rootfs; };
}
