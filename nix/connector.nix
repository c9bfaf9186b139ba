# Arion *service* module for one ilp-connector node.
#
#   services.connector-a = { ... }: {   # a function: see nix/topology.nix
#     imports = [ ./nix/connector.nix ];
#     ilp.index = 0;
#     ilp.peers.connector-b = { secret = "..."; };                       # dials in
#     ilp.peers.connector-z = { url = "ws://connector-z:3025"; secret = "..."; };
#     ilp.routes."g.connector-q" = "connector-z";
#   };
#
# It only sets arion's `service.*` options (plus two keys arion does not
# model, via `out.service`), so the resulting Compose attrset can be computed
# with nixpkgs' lib alone (see nix/render.nix).
{
  config,
  lib,
  name,
  ...
}:
let
  inherit (lib) mkOption mkIf types;
  ilpLib = import ./lib.nix { inherit lib; };
  cfg = config.ilp;

  peerModule =
    { name, config, ... }:
    {
      options = {
        url = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "ws://connector-a:3000";
          description = "BTP URL this node dials. null: the peer dials in (needs a secret).";
        };
        secret = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "Shared secret of the link (the same value on both ends).";
        };
        secretFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "Path (inside the container) of a file holding the secret; BTP_PEER_<ID>_SECRET_FILE.";
        };
        relation = mkOption {
          type = types.enum [
            "peer"
            "child"
          ];
          default = "peer";
        };
        dependsOn = mkOption {
          type = types.nullOr types.str;
          default = if config.url != null then name else null;
          defaultText = "the peer id when `url` is set, else null";
          description = "Compose service to wait for (condition service_healthy) before starting; null for none.";
        };
      };
    };

  peerEnv =
    id: p:
    let
      pre = "BTP_PEER_${ilpLib.envId id}_";
    in
    lib.optionalAttrs (p.url != null) { "${pre}URL" = p.url; }
    // lib.optionalAttrs (p.secret != null) { "${pre}SECRET" = p.secret; }
    // lib.optionalAttrs (p.secretFile != null) { "${pre}SECRET_FILE" = p.secretFile; }
    // lib.optionalAttrs (p.relation != "peer") { "${pre}RELATION" = p.relation; };

  # attrNames are sorted, so the variable is deterministic.
  routesValue = lib.concatStringsSep "," (
    lib.mapAttrsToList (prefix: peer: "${prefix}=${peer}") cfg.routes
  );

  dependsOn = lib.listToAttrs (
    lib.concatMap (
      p:
      lib.optional (p.dependsOn != null) (lib.nameValuePair p.dependsOn { condition = "service_healthy"; })
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
    // lib.optionalAttrs (cfg.routes != { }) { ILP_ROUTES = routesValue; }
    // lib.optionalAttrs (cfg.receiverSecret != null) { RECEIVER_SECRET = cfg.receiverSecret; }
    // lib.optionalAttrs (cfg.receiverSecretFile != null) {
      RECEIVER_SECRET_FILE = cfg.receiverSecretFile;
    }
    // lib.concatMapAttrs peerEnv cfg.peers
    // cfg.extraEnvironment;
in
{
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
      default = 3000 + cfg.index;
      defaultText = "3000 + index";
    };
    healthPort = mkOption {
      type = types.port;
      default = 8080 + cfg.index;
      defaultText = "8080 + index";
    };
    publishPorts = mkOption {
      type = types.bool;
      default = true;
      description = "Map btpPort and healthPort to the same host ports.";
    };
    ilpAddress = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "ILP_ADDRESS; null leaves the binary's default g.<NODE_ID>.";
    };
    bindAddress = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "BIND_ADDRESS; null leaves the binary's default 0.0.0.0.";
    };
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
    routes = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        "g.connector-c" = "connector-b";
      };
      description = "ILP_ROUTES: ILP address prefix -> peer id (longest prefix wins).";
    };
    receiverSecret = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "RECEIVER_SECRET: enables the test receiver at <ILP_ADDRESS>.receiver.";
    };
    receiverSecretFile = mkOption {
      type = types.nullOr types.str;
      default = null;
    };
    extraEnvironment = mkOption {
      type = types.attrsOf types.str;
      default = { };
    };
    image = mkOption {
      type = types.str;
      default = "ilp-connector:latest";
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
    containerName = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Set container_name to the service name. Readable `docker ps`, but
        two copies of one network cannot run side by side.
      '';
    };
    network = mkOption {
      type = types.str;
      default = "ilp-network";
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
      }) cfg.routes;

    service = {
      image = cfg.image;
      container_name = mkIf cfg.containerName config.service.name;
      restart = "unless-stopped";
      networks = [ cfg.network ];
      user = "10001:10001";
      capabilities.ALL = false; # -> cap_drop: [ALL]
      inherit environment;
      ports = lib.optionals cfg.publishPorts [
        "${toString cfg.btpPort}:${toString cfg.btpPort}"
        "${toString cfg.healthPort}:${toString cfg.healthPort}"
      ];
      healthcheck = {
        test = [
          "CMD"
          "ilp-connector"
          "health"
        ];
        interval = "2s";
        timeout = "2s";
        retries = 15;
        start_period = "1s";
      };
      depends_on = mkIf (dependsOn != { }) dependsOn;
      # The image has no shell: make `arion exec <node>` run something real.
      defaultExec = [
        "/bin/ilp-connector"
        "--help"
      ];
    };

    # Not modelled by arion's service options: add them to the raw output.
    out.service = {
      read_only = true;
      security_opt = [ "no-new-privileges:true" ];
    };

    image.nixBuild = cfg.imagePackage != null;
    build.image = mkIf (cfg.imagePackage != null) (lib.mkForce cfg.imagePackage);
  };
}
