# Per-system flake outputs. `pkgs` is nixpkgs with overlays.default applied;
# `lib` is the flake's nixpkgs-lib, so the attribute names below can be
# listed without evaluating (or fetching) nixpkgs.
{
  lib,
  system,
  pkgs,
  crane,
  render,
}:
let
  # nix/package.nix, instantiated once by the overlay.
  built = pkgs.ilp-connector-crane;
  inherit (built) craneLib commonArgs cargoArtifacts;
  image = pkgs.ilp-connector-image;
  imageBudgetBytes = 10 * 1024 * 1024;

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

  # The network of each committed file in a NixOS VM (nix/vm-test.nix).
  vmTest =
    topology:
    let
      file = fileOf.${topology};
      # The nodes (not the `dashboard` service, the network page).
      services = lib.attrNames (
        lib.filterAttrs (_: s: s.environment ? NODE_ID) render.composeFiles.${file}.compose.services
      );
      pick = {
        linear = {
          first = "connector-a";
          farthest = lib.last services;
          crash = "connector-b";
        };
        mesh = {
          first = "connector-a";
          farthest = lib.last services;
          crash = "connector-b";
        };
        hub-spoke = {
          first = "spoke-1";
          farthest = lib.last services;
          crash = "connector-hub";
        };
      };
    in
    import ./vm-test.nix (
      {
        inherit pkgs image file topology;
        composeFiles = compose-files;
        project = projectOf topology;
      }
      // pick.${topology}
    );

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

  # nix run .#swarm-<topology> [-- down]: the repository's scripts/swarm-up.sh
  # (single-node swarm if none, deploy, wait healthy) with the Nix image
  # loaded first; run from the repository root.
  swarmApp =
    topology:
    pkgs.writeShellApplication {
      name = "ilp-swarm-${topology}";
      text = ''
        if [ ! -x scripts/swarm-up.sh ]; then
          echo "ilp-swarm-${topology}: run this from the ilp-connector repository root" >&2
          exit 1
        fi
        if [ "''${1:-}" = down ]; then
          exec scripts/swarm-down.sh ${topology}
        fi
        echo "Loading ${image.imageName}:${image.imageTag} ..."
        docker load < ${image}
        SKIP_BUILD=1 exec scripts/swarm-up.sh ${topology}
      '';
    };

  app = drv: {
    type = "app";
    program = lib.getExe drv;
  };
in
rec {
  packages = {
    default = pkgs.ilp-connector;
    inherit (pkgs) ilp-connector;
    inherit image compose-files;
  };

  checks = {
    inherit (pkgs) ilp-connector;
    # crane's quick-start check set.
    ilp-connector-clippy = craneLib.cargoClippy (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoClippyExtraArgs = "--all-targets -- --deny warnings";
      }
    );
    ilp-connector-fmt = craneLib.cargoFmt { inherit (built) src; };
    ilp-connector-toml-fmt = craneLib.taploFmt {
      src = lib.fileset.toSource {
        root = ../.;
        fileset = lib.fileset.fileFilter (f: f.hasExt "toml") ../.;
      };
    };
    ilp-connector-doc = craneLib.cargoDoc (
      commonArgs
      // {
        inherit cargoArtifacts;
        env.RUSTDOCFLAGS = "--deny warnings";
      }
    );
    # Licenses, bans and sources per deny.toml (no advisories: that needs
    # the advisory database as a flake input, not added).
    ilp-connector-deny = craneLib.cargoDeny {
      inherit (built) src;
      cargoDenyChecks = "bans licenses sources";
    };
    # The multi-node tests only use 127.0.0.1, which the build sandbox has.
    ilp-connector-nextest = craneLib.cargoNextest (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoNextestExtraArgs = "--no-tests=pass";
      }
    );
    # The source set crane builds from here equals the lib-only evaluation
    # that scripts/test-source-set.sh tests with (.#lib.source).
    source-set = pkgs.runCommand "source-set" { } ''
      diff -r ${built.src} ${render.source}
      touch $out
    '';
    # The image stays small: the static binary and three files.
    image-size = pkgs.runCommand "image-size" { } ''
      size=$(stat -L -c %s ${image})
      echo "image tarball: $size bytes (budget ${toString imageBudgetBytes})"
      [ "$size" -le ${toString imageBudgetBytes} ]
      touch $out
    '';
  }
  // lib.mapAttrs' (_: t: lib.nameValuePair "render-${t}" (renderCheck t)) render.files
  // lib.optionalAttrs (system == "x86_64-linux") (
    lib.mapAttrs' (_: t: lib.nameValuePair "vm-${t}" (vmTest t)) render.files
  );

  apps = {
    linear = app (composeApp "linear");
    mesh = app (composeApp "mesh");
    hub-spoke = app (composeApp "hub-spoke");
    swarm-linear = app (swarmApp "linear");
    swarm-mesh = app (swarmApp "mesh");
    swarm-hub-spoke = app (swarmApp "hub-spoke");
    render = app renderApp;
    default = app (composeApp "linear");
  };

  devShells.default = craneLib.devShell {
    # The build inputs of the crate's checks (crane's devShell takes
    # `checks`); not the VM tests' (qemu, a NixOS system).
    checks = lib.filterAttrs (n: _: lib.hasPrefix "ilp-connector" n) checks;
    packages = [
      pkgs.arion
      pkgs.cargo-nextest
      python
    ];
  };
}
