# Arion *service* module for the network page (`ilp-connector dashboard`,
# the same image as the nodes), added to every topology by nix/topology.nix:
#
#   services.dashboard = _: {
#     imports = [ ./nix/dashboard.nix ];
#     ilpDashboard.nodes = { connector-a = "http://connector-a:8080"; };
#   };
#
# Its options live under `ilpDashboard`, not `ilp`: nix/cluster.nix tells a
# connector node from any other service by `services.<name> ? ilp`. What
# every container has (image, network, containerName, networkSize, the user
# and restrictions) comes from nix/service.nix.
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
  imports = [ (import ./service.nix "ilpDashboard") ];

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
    adminToken = ilpLib.mkNullOrStr "DASHBOARD_ADMIN_TOKEN: the nodes' ADMIN_TOKEN (null: the page cannot act on links).";
    senderSecret = ilpLib.mkNullOrStr "DASHBOARD_SENDER_SECRET: the `sender` account's secret (null: no sending from the page).";
    receiverSecret = ilpLib.mkNullOrStr "DASHBOARD_RECEIVER_SECRET: the nodes' RECEIVER_SECRET.";
  };

  config = {
    service = {
      command = [ "dashboard" ];
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
  };
}
