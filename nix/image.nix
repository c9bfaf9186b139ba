# OCI image ilp-connector:latest: the binary at /bin/ilp-connector, its
# runtime closure (glibc), /etc/passwd and /etc/group for uid/gid 10001,
# and nothing else (no shell).
{ pkgs, ilp-connector }:
let
  rootfs = pkgs.runCommand "ilp-connector-rootfs" { } ''
    mkdir -p $out/bin $out/etc
    ln -s ${ilp-connector}/bin/ilp-connector $out/bin/ilp-connector
    echo 'ilp:x:10001:10001:ilp-connector:/var/empty:/bin/ilp-connector' > $out/etc/passwd
    echo 'ilp:x:10001:' > $out/etc/group
  '';
  seconds = s: s * 1000000000; # the image config counts nanoseconds
in
pkgs.dockerTools.buildLayeredImage {
  name = "ilp-connector";
  tag = "latest";
  contents = [ rootfs ];
  config = {
    User = "10001:10001";
    Entrypoint = [ "/bin/ilp-connector" ];
    Env = [ "PATH=/bin" ];
    ExposedPorts = {
      "3000/tcp" = { };
      "8080/tcp" = { };
    };
    # `ilp-connector health` exits 0 when the node's health endpoint says so, else 1.
    Healthcheck = {
      Test = [
        "CMD"
        "/bin/ilp-connector"
        "health"
      ];
      Interval = seconds 2;
      Timeout = seconds 2;
      StartPeriod = seconds 1;
      Retries = 15;
    };
    Labels."org.opencontainers.image.title" = "ilp-connector";
  };
}
