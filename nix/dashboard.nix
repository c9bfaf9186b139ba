# Arion *service* module for the network page (`ilp-connector dashboard`,
# the same image as the nodes), added to every topology by nix/topology.nix:
#
#   services.dashboard = _: {
#     imports = [ ./nix/dashboard.nix ];
#     ilpDashboard.nodes = { connector-a = "http://connector-a:8080"; };
#   };
#
# Its options live under `ilpDashboard`, not `ilp`: nix/cluster.nix tells a
# connector node from any other service by `services.<name> ? ilp`.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  ilpLib = import ./lib.nix { inherit lib; };
  deployment = ilpLib.deployment;
  cfg = config.ilpDashboard;
  port = toString cfg.port;

  nodesValue = lib.concatStringsSep "," (lib.mapAttrsToList (n: url: "${n}=${url}") cfg.nodes);
in
{
  options.ilpDashboard = {
    nodes = mkOption {
      type = types.attrsOf types.str;
      description = "DASHBOARD_NODES: node name -> its health URL (http://<service>:<health port>).";
    };
    port = mkOption {
      type = types.port;
      default = deployment.ports.dashboard;
      defaultText = "8000 (docker/deployment.json)";
      description = "DASHBOARD_PORT inside the container.";
    };
    hostPort = mkOption {
      type = types.nullOr types.port;
      default = cfg.port;
      description = "Host port the page is published on; null publishes nothing.";
    };
    adminToken = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "DASHBOARD_ADMIN_TOKEN: the nodes' ADMIN_TOKEN (null: the page cannot act on links).";
    };
    senderSecret = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "DASHBOARD_SENDER_SECRET: the `sender` account's secret (null: no sending from the page).";
    };
    receiverSecret = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "DASHBOARD_RECEIVER_SECRET: the nodes' RECEIVER_SECRET.";
    };
    image = mkOption {
      type = types.str;
      default = "${deployment.image.name}:${deployment.image.tag}";
    };
    network = mkOption {
      type = types.str;
      default = "ilp-network";
    };
    containerName = mkOption {
      type = types.bool;
      default = false;
    };
    networkSize = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "Containers in the network: sets the health-check interval (nix/lib.nix, healthIntervalSeconds).";
    };
  };

  config = {
    service = {
      image = cfg.image;
      command = [ "dashboard" ];
      container_name = lib.mkIf cfg.containerName config.service.name;
      restart = "unless-stopped";
      networks = [ cfg.network ];
      user = "${toString deployment.user.uid}:${toString deployment.user.gid}";
      capabilities.ALL = false;
      environment = {
        DASHBOARD_NODES = nodesValue;
        DASHBOARD_BIND_ADDRESS = "0.0.0.0";
        DASHBOARD_PORT = port;
      }
      // lib.optionalAttrs (cfg.adminToken != null) { DASHBOARD_ADMIN_TOKEN = cfg.adminToken; }
      // lib.optionalAttrs (cfg.senderSecret != null) { DASHBOARD_SENDER_SECRET = cfg.senderSecret; }
      // lib.optionalAttrs (cfg.receiverSecret != null) {
        DASHBOARD_RECEIVER_SECRET = cfg.receiverSecret;
      };
      ports = lib.optional (cfg.hostPort != null) "${toString cfg.hostPort}:${port}";
      # The image's HEALTHCHECK probes a node's port; the page answers GET
      # /health on its own port while it serves.
      healthcheck = ilpLib.composeHealthcheckFor cfg.networkSize // {
        test = [
          "CMD"
          "ilp-connector"
          "health"
          "--addr"
          "127.0.0.1:${port}"
        ];
      };
      defaultExec = [
        "/bin/ilp-connector"
        "dashboard"
        "--help"
      ];
    };
    out.service = {
      read_only = true;
      security_opt = [ "no-new-privileges:true" ];
    };
  };
}
