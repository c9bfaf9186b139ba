# Arion *service* module for one ilp-connector node.
#
#   services.connector-a = { ... }: {   # a function: see nix/topology.nix
#     imports = [ ./nix/connector.nix ];
#     ilp.index = 0;
#     ilp.peers.connector-b = { secret = "..."; };                       # dials in
#     ilp.peers.connector-z = { url = "ws://connector-z:3025"; secret = "..."; };
#     ilp.routes."g.connector-q" = "connector-z";
#     ilp.peers.connector-z.limits.balanceMaximum = 10000000;            # BTP_PEER_CONNECTOR_Z_BALANCE_MAXIMUM
#   };
#
# The node's books live in ilp.dataDir (DATA_DIR, default /data), on the
# named volume ilp.dataVolume (<service>-data) mounted there; the topology
# module declares the volume (Compose's top-level `volumes:`).
#
# It only sets arion's `service.*` options (plus two keys arion does not
# model, via `out.service`), so the resulting Compose attrset can be computed
# with nixpkgs' lib alone (see nix/render.nix). What every container has
# (image, network, containerName, networkSize, the user and restrictions)
# comes from nix/service.nix.
{
  config,
  lib,
  name,
  ...
}:
let
  inherit (lib) mkOption mkIf types;
  ilpLib = import ./lib.nix { inherit lib; };
  deployment = ilpLib.deployment;
  cfg = config.ilp;

  peerModule =
    { name, config, ... }:
    {
      options = {
        limits = ilpLib.limitOptions (_: null);
        url = ilpLib.mkNullOrStr "BTP URL this node dials. null: the peer dials in (needs a secret)." // {
          example = "ws://connector-a:3000";
        };
        secret = ilpLib.mkNullOrStr "Shared secret of the link (the same value on both ends).";
        secretFile = ilpLib.mkNullOrStr "Path (inside the container) of a file holding the secret; BTP_PEER_<ID>_SECRET_FILE.";
        relation = mkOption {
          type = types.enum [
            "peer"
            "child"
          ];
          default = "peer";
        };
        dependsOn = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = ''
            Compose service to start before this one (depends_on, condition
            service_started); null (the default) for none. Links never give
            up, so start order does not matter, and every dependency makes
            Compose start the network in more sequential steps.
          '';
        };
      };
    };

  peerEnv =
    id: p:
    let
      var = ilpLib.peerVar id;
    in
    lib.optionalAttrs (p.url != null) { ${var "URL"} = p.url; }
    // lib.optionalAttrs (p.secret != null) { ${var "SECRET"} = p.secret; }
    // lib.optionalAttrs (p.secretFile != null) { ${var "SECRET_FILE"} = p.secretFile; }
    // lib.optionalAttrs (p.relation != "peer") { ${var "RELATION"} = p.relation; }
    // lib.concatMapAttrs (
      opt: value: lib.optionalAttrs (value != null) { ${var ilpLib.limitKeys.${opt}} = toString value; }
    ) p.limits;

  # attrNames are sorted, so the variable is deterministic.
  routesValue = lib.concatStringsSep "," (
    lib.mapAttrsToList (prefix: peer: "${prefix}=${peer}") cfg.routes
  );

  dependsOn = lib.listToAttrs (
    lib.concatMap (
      p:
      lib.optional (p.dependsOn != null) (lib.nameValuePair p.dependsOn { condition = "service_started"; })
    ) (lib.attrValues cfg.peers)
  );

  environment =
    {
      NODE_ID = cfg.nodeId;
      BTP_SERVER_PORT = toString cfg.btpPort;
      HEALTH_PORT = toString cfg.healthPort;
      LOG_LEVEL = cfg.logLevel;
    }
    // lib.optionalAttrs (cfg.ilpAddress != null) { ILP_ADDRESS = cfg.ilpAddress; }
    // lib.optionalAttrs (cfg.bindAddress != null) { BIND_ADDRESS = cfg.bindAddress; }
    // lib.optionalAttrs (cfg.logFormat != null) { LOG_FORMAT = cfg.logFormat; }
    // lib.optionalAttrs (cfg.routing == "static") { ROUTING = "static"; }
    // lib.optionalAttrs (cfg.routes != { }) { ILP_ROUTES = routesValue; }
    // lib.optionalAttrs (cfg.receiverSecret != null) { RECEIVER_SECRET = cfg.receiverSecret; }
    // lib.optionalAttrs (cfg.receiverSecretFile != null) {
      RECEIVER_SECRET_FILE = cfg.receiverSecretFile;
    }
    // lib.optionalAttrs (cfg.adminToken != null) { ADMIN_TOKEN = cfg.adminToken; }
    // lib.optionalAttrs (cfg.dataDir != null) { DATA_DIR = cfg.dataDir; }
    // lib.concatMapAttrs peerEnv cfg.peers
    // cfg.extraEnvironment;
in
{
  imports = [ (import ./service.nix "ilp") ];

  options.ilp = {
    nodeId = mkOption {
      type = types.strMatching ilpLib.nodeIdPattern;
      default = name;
      defaultText = "the service name";
      description = "NODE_ID: lowercase letters, digits and `-`.";
    };
    index = mkOption {
      type = types.ints.unsigned;
      description = "Position of the node in its network; picks the default ports.";
    };
    btpPort = mkOption {
      type = types.port;
      default = deployment.ports.btp + cfg.index;
      defaultText = "3000 + index (docker/deployment.json)";
    };
    healthPort = mkOption {
      type = types.port;
      default = deployment.ports.health + cfg.index;
      defaultText = "8080 + index (docker/deployment.json)";
    };
    publishPorts = mkOption {
      type = types.bool;
      default = true;
      description = "Map btpPort and healthPort to the same host ports.";
    };
    ilpAddress = ilpLib.mkNullOrStr "ILP_ADDRESS; null leaves the binary's default g.<NODE_ID>.";
    bindAddress = ilpLib.mkNullOrStr "BIND_ADDRESS; null leaves the binary's default 0.0.0.0.";
    logLevel = mkOption {
      type = types.str;
      default = "info";
    };
    logFormat = mkOption {
      type = types.nullOr (
        types.enum [
          "json"
          "text"
        ]
      );
      default = null;
      description = "LOG_FORMAT; null leaves the binary's default (json when stdout is not a terminal).";
    };
    peers = mkOption {
      type = types.attrsOf (types.submodule peerModule);
      default = { };
      description = "BTP peers keyed by their NODE_ID.";
    };
    routing = mkOption {
      type = types.enum [
        "ccp"
        "static"
      ];
      default = "ccp";
      description = "ROUTING: ccp (learn routes from peers; the binary's default, not rendered) or static.";
    };
    routes = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        "g.connector-c" = "connector-b";
      };
      description = "ILP_ROUTES: ILP address prefix -> peer id (longest prefix wins).";
    };
    receiverSecret = ilpLib.mkNullOrStr "RECEIVER_SECRET: enables the test receiver at <ILP_ADDRESS>.receiver.";
    receiverSecretFile = ilpLib.mkNullOrStr "RECEIVER_SECRET_FILE: path (inside the container) of a file holding RECEIVER_SECRET.";
    adminToken = ilpLib.mkNullOrStr "ADMIN_TOKEN: turns on the admin API (fault injection; a test-network tool).";
    dataDir = mkOption {
      type = types.nullOr types.str;
      default = deployment.dataDir;
      defaultText = "/data (docker/deployment.json dataDir)";
      description = ''
        DATA_DIR: the directory of the node's durable books (balances and
        settlements, books.sqlite), with the named volume `dataVolume`
        mounted there so that a restart keeps them. null: no DATA_DIR and no
        volume; the node keeps its balances in memory (zero after a restart).
      '';
    };
    dataVolume = mkOption {
      type = types.str;
      default = "${name}-data";
      defaultText = "<service name>-data";
      description = ''
        Named volume mounted at dataDir (Compose prefixes the project:
        <project>_<service>-data). The composition must declare it in its
        top-level `docker-compose.volumes`; nix/topology.nix does.
      '';
    };
    extraEnvironment = mkOption {
      type = types.attrsOf types.str;
      default = { };
    };
    imagePackage = mkOption {
      type = types.nullOr types.package;
      default = null;
      description = ''
        A dockerTools image (the flake's packages.image). When set, arion
        itself `docker load`s it before `arion up`. Leave null to use an image
        that is already loaded (the committed Compose files do).
      '';
    };
  };

  config = {
    assertions =
      lib.mapAttrsToList (id: p: {
        assertion = p.url != null || p.secret != null || p.secretFile != null;
        message = "${name}: peer ${id} has neither a url nor a secret";
      }) cfg.peers
      ++ lib.mapAttrsToList (prefix: peer: {
        assertion = cfg.peers ? ${peer};
        message = "${name}: route ${prefix} points at ${peer}, which is not a peer";
      }) cfg.routes
      ++ lib.concatLists (lib.mapAttrsToList (id: p: ilpLib.limitAssertions "${name}: peer ${id}" p.limits) cfg.peers);

    service = {
      inherit environment;
      ports = lib.optionals cfg.publishPorts [
        "${toString cfg.btpPort}:${toString cfg.btpPort}"
        "${toString cfg.healthPort}:${toString cfg.healthPort}"
      ];
      # The timings of the image's own HEALTHCHECK (docker/deployment.json):
      # healthy at the first check after the links are up, unhealthy after
      # `retries` failed checks (about 3 s; longer in networks of over 30
      # containers, whose checks are spread out).
      healthcheck = ilpLib.composeHealthcheckFor cfg.networkSize;
      # The books, on a named volume: an empty one takes the image's /data
      # (owned by the image's user), so the read-only container can write it.
      volumes = lib.optional (cfg.dataDir != null) "${cfg.dataVolume}:${cfg.dataDir}";
      depends_on = mkIf (dependsOn != { }) dependsOn;
      # The image has no shell: make `arion exec <node>` run something real.
      defaultExec = [
        "/bin/ilp-connector"
        "--help"
      ];
    };

    image.nixBuild = cfg.imagePackage != null;
    build.image = mkIf (cfg.imagePackage != null) (lib.mkForce cfg.imagePackage);
  };
}
