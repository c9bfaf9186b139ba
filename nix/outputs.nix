# Per-system flake outputs. `pkgs` is nixpkgs with overlays.default applied;
# `lib` is the flake's nixpkgs-lib, so the attribute names below can be
# listed without evaluating (or fetching) nixpkgs.
{
  lib,
  pkgs,
  crane,
  render,
}:
let
  built = import ./package.nix { inherit pkgs crane; };
  inherit (built) craneLib commonArgs cargoArtifacts;
  image = pkgs.ilp-connector-image;

  python = pkgs.python3.withPackages (ps: [ ps.pyyaml ]);

  # The three Compose files, written exactly as scripts/render-compose.sh does.
  compose-files =
    pkgs.runCommand "ilp-connector-compose-files"
      {
        nativeBuildInputs = [ python ];
        files = builtins.toJSON render.composeFiles;
        passAsFile = [ "files" ];
      }
      ''
        python3 ${../scripts/compose-yaml.py} $out < "$filesPath"
      '';

  fileOf = lib.listToAttrs (
    lib.mapAttrsToList (file: topology: lib.nameValuePair topology file) render.files
  );
  projectOf = topology: render.composeFiles.${fileOf.${topology}}.compose.x-arion.project.name;

  # One check per topology: (1) arion evaluated with the real nixpkgs gives the
  # same Compose document as the lib-only evaluation used offline, and (2) the
  # committed file equals a fresh render.
  renderCheck =
    topology:
    let
      file = fileOf.${topology};
      real = (render.evalTopology { inherit topology pkgs; }).config.out.dockerComposeYaml;
      libOnly = pkgs.writeText "${topology}-lib-only.json" (
        builtins.toJSON (render.composeAttrs { inherit topology; })
      );
    in
    pkgs.runCommand "render-${topology}" { } ''
      cmp ${real} ${libOnly}
      diff -u ${../. + "/${file}"} ${compose-files}/${file}
      touch $out
    '';

  composeApp =
    topology:
    let
      file = fileOf.${topology};
      project = projectOf topology;
    in
    pkgs.writeShellApplication {
      name = "ilp-${topology}";
      # docker itself comes from the host, to match its engine.
      text = ''
        compose() {
          if docker compose version >/dev/null 2>&1; then
            docker compose -p ${project} -f ${compose-files}/${file} "$@"
          elif command -v docker-compose >/dev/null 2>&1; then
            docker-compose -p ${project} -f ${compose-files}/${file} "$@"
          else
            echo "ilp-${topology}: needs docker compose (or docker-compose) on PATH" >&2
            exit 1
          fi
        }
        if [ "$#" -gt 0 ]; then
          # e.g. nix run .#${topology} -- down / ps / logs -f
          compose "$@"
          exit
        fi
        echo "Loading ${image.imageName}:${image.imageTag} ..."
        docker load < ${image}
        compose up -d
        compose ps
      '';
    };

  renderApp = pkgs.writeShellApplication {
    name = "ilp-render-compose";
    text = ''
      if [ ! -f flake.nix ] || [ ! -d nix/topologies ]; then
        echo "run this from the ilp-connector repository root" >&2
        exit 1
      fi
      ${lib.concatMapStringsSep "\n" (file: ''
        mkdir -p "$(dirname ${file})"
        install -m 0644 ${compose-files}/${file} ${file}
        echo "wrote ${file}"
      '') (lib.attrNames render.files)}
    '';
  };

  app = drv: {
    type = "app";
    program = lib.getExe drv;
  };
in
{
  packages = {
    default = pkgs.ilp-connector;
    inherit (pkgs) ilp-connector;
    inherit image compose-files;
  };

  checks = {
    inherit (pkgs) ilp-connector;
    ilp-connector-clippy = craneLib.cargoClippy (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoClippyExtraArgs = "--all-targets -- --deny warnings";
      }
    );
    ilp-connector-fmt = craneLib.cargoFmt { inherit (built) src; };
    ilp-connector-doc = craneLib.cargoDoc (commonArgs // { inherit cargoArtifacts; });
    # The multi-node tests only use 127.0.0.1, which the build sandbox has.
    ilp-connector-nextest = craneLib.cargoNextest (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoNextestExtraArgs = "--no-tests=pass";
      }
    );
  }
  // lib.mapAttrs' (_: t: lib.nameValuePair "render-${t}" (renderCheck t)) render.files;

  apps = {
    linear = app (composeApp "linear");
    mesh = app (composeApp "mesh");
    hub-spoke = app (composeApp "hub-spoke");
    render = app renderApp;
    default = app (composeApp "linear");
  };

  devShells.default = craneLib.devShell {
    packages = [
      pkgs.arion
      pkgs.cargo-nextest
      python
    ];
  };
}
