# Evaluate the topology modules with arion's own module system and return
# the Compose attrsets, using nothing but nixpkgs' `lib` and arion's source.
#
# arion's eval-composition.nix wants `pkgs`, but for services that name a
# prebuilt image (service.image set, image.nixBuild false) it only reads
# `pkgs.lib`: everything else in `pkgs` is used lazily by options we never
# force (image building, NixOS containers, out.dockerComposeYaml). So the
# offline render passes a stub whose other attributes fail loudly.
{
  lib,
  arion,
  crane ? null,
}:
let
  stubPkgs = {
    inherit lib;
  }
  // lib.genAttrs
    [
      "dockerTools"
      "writeText"
      "runCommand"
      "callPackage"
      "nixos"
      "nix"
      "closureInfo"
      "path"
    ]
    (
      a:
      throw "nix/render.nix evaluates arion modules without nixpkgs; pkgs.${a} is not available here (set pkgs to evaluate image-building services)"
    );

  topologies = {
    linear = {
      module = "nix/topologies/linear.nix";
      path = ./topologies/linear.nix;
      parameter = "ilp.linear.nodes";
    };
    mesh = {
      module = "nix/topologies/mesh.nix";
      path = ./topologies/mesh.nix;
      parameter = "ilp.mesh.nodes";
    };
    hub-spoke = {
      module = "nix/topologies/hub-spoke.nix";
      path = ./topologies/hub-spoke.nix;
      parameter = "ilp.hubSpoke.spokes";
    };
  };

  # The committed Compose files.
  files = {
    "docker-compose.yml" = "linear";
    "docker/docker-compose.mesh.yml" = "mesh";
    "docker/docker-compose.hub-spoke.yml" = "hub-spoke";
  };
in
rec {
  inherit topologies files;

  # crane's file-set helpers (lib/fileset/*.nix in crane's source) with lib
  # alone, as crane's own mkLib wires them (callPackage with lib and the set
  # itself), so the source set can be evaluated without nixpkgs.
  craneFilesetLibOnly =
    let
      fs = lib.genAttrs [ "cargoTomlAndLock" "configToml" "rust" "toml" ] (
        n: import "${crane}/lib/fileset/${n}.nix" { inherit lib; }
      );
    in
    fs
    // {
      commonCargoSources = import "${crane}/lib/fileset/commonCargoSources.nix" {
        inherit lib;
        fileset = fs;
      };
    };

  # The OCI configuration both images have (docker/deployment.json):
  #   nix eval --json .#lib.imageConfig
  imageConfig = import ./image-config.nix { inherit lib; };

  # The crate's source set (nix/source.nix), evaluated with lib only:
  #   nix eval --raw .#lib.source    (a store path holding exactly those files)
  source = import ./source.nix {
    inherit lib;
    craneFileset = craneFilesetLibOnly;
  };

  # The Nix rule for the <ID> of BTP_PEER_<ID>_* (nix/lib.nix envId) on the
  # example ids of docker/deployment.json (btpPeerEnvIds), for
  # scripts/check-compose-rendered.sh to compare with the examples:
  #   nix eval --json .#lib.peerEnvIds
  peerEnvIds =
    let
      ilpLib = import ./lib.nix { inherit lib; };
    in
    lib.mapAttrs (id: _: ilpLib.envId id) ilpLib.deployment.btpPeerEnvIds;

  # Forces (fetches) exactly the inputs the render needs; the check script
  # uses it to tell "cannot render here" from "render failed".
  inputsForRender = "${lib.trivial.version} ${arion}";

  # evalTopology { topology = "mesh"; modules = [ { ilp.mesh.nodes = 6; } ]; }
  evalTopology =
    {
      topology,
      modules ? [ ],
      pkgs ? stubPkgs,
    }:
    import "${arion}/src/nix/eval-composition.nix" {
      inherit pkgs;
      modules = [ topologies.${topology}.path ] ++ modules;
    };

  # The attrset arion would write to docker-compose.yaml (out.dockerComposeYamlAttrs).
  composeAttrs = args: (evalTopology args).config.out.dockerComposeYamlAttrs;

  # One entry of the input of scripts/compose-yaml.py: where the file came
  # from and its content. `count` overrides the topology's node-count parameter.
  composeEntry =
    {
      topology,
      count ? null,
    }:
    let
      t = topologies.${topology};
      path = lib.splitString "." t.parameter;
      ev = evalTopology {
        inherit topology;
        modules = lib.optional (count != null) (lib.setAttrByPath path count);
      };
    in
    {
      inherit topology;
      inherit (t) module parameter;
      value = lib.attrByPath path null ev.config;
      compose = ev.config.out.dockerComposeYamlAttrs;
    };

  # The committed files (topology defaults).
  composeFiles = lib.mapAttrs (_file: topology: composeEntry { inherit topology; }) files;

  cluster = import ./cluster.nix { inherit lib; };

  prometheusConfig = import ./prometheus.nix { inherit lib; };

  # The Swarm stack, its secret files, the Kubernetes manifests and the
  # Prometheus scrape configuration (nix/prometheus.nix) of one topology,
  # from the same evaluation as the Compose file. `count` is the
  # same node-count parameter; `placement` sets ilp.placement (node -> host
  # label). Keys are paths relative to the output directory.
  clusterEntries =
    {
      topology,
      count ? null,
      placement ? { },
      suffix ? "",
    }:
    let
      t = topologies.${topology};
      path = lib.splitString "." t.parameter;
      ev = evalTopology {
        inherit topology;
        modules =
          lib.optional (count != null) (lib.setAttrByPath path count)
          ++ lib.optional (placement != { }) { ilp.placement = placement; };
      };
      common = {
        inherit topology;
        inherit (t) module parameter;
        value = lib.attrByPath path null ev.config;
        project = ev.config.out.dockerComposeYamlAttrs.x-arion.project.name;
      };
      stack = cluster.swarmStack ev;
    in
    {
      "docker/stack.${topology}${suffix}.yml" = common // {
        kind = "swarm";
        document = stack;
      };
      "k8s/${topology}${suffix}.yaml" = common // {
        kind = "k8s";
        documents = cluster.k8sManifests ev;
      };
      "docker/prometheus.${topology}${suffix}.yml" = common // {
        kind = "prometheus";
        document = prometheusConfig ev;
      };
    }
    // lib.mapAttrs' (
      name: value:
      lib.nameValuePair "docker/secrets/${name}" (
        common
        // {
          kind = "text";
          text = value + "\n";
        }
      )
    ) (cluster.facts ev).secrets;

  # Every committed file the render check compares: Compose, Swarm,
  # Kubernetes, Prometheus.
  allFiles =
    composeFiles
    // lib.foldl' (acc: topology: acc // clusterEntries { inherit topology; }) { } (
      lib.attrNames topologies
    );

  # nix eval --json .#lib.customFiles --apply 'f: f { topology = "mesh"; count = 6; }'
  customFiles =
    { topology, count }:
    {
      "docker-compose.${topology}-${toString count}.yml" = composeEntry { inherit topology count; };
    };

  # The same for Swarm and Kubernetes (files named <topology>-<count>):
  # nix eval --json .#lib.customClusterFiles --apply 'f: f { topology = "mesh"; count = 10; }'
  customClusterFiles =
    {
      topology,
      count,
      placement ? { },
    }:
    clusterEntries {
      inherit topology count placement;
      suffix = "-${toString count}";
    };
}
