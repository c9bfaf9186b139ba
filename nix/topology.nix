# Arion *composition* module shared by the topologies in nix/topologies/.
#
# A topology only fills in `ilp.nodes` (name -> index, and the routes used
# when `ilp.routing = "static"`; by default CCP learns them) and
# `ilp.links` (who dials whom). This module turns that into one arion
# service per node, built from nix/connector.nix:
#   - the dialer of a link gets  BTP_PEER_<ACCEPTOR>_URL + _SECRET (no
#     depends_on: links never give up, so every node starts at once);
#   - the acceptor gets          BTP_PEER_<DIALER>_SECRET (it dials in);
#   - the secret is secret-<acceptor>-<dialer> (nix/lib.nix: linkSecret);
#   - both ends of a link get its limits (BTP_PEER_<ID>_BALANCE_MINIMUM,
#     _BALANCE_MAXIMUM, _SETTLE_THRESHOLD, _SETTLE_TO): ilp.peerLimits for
#     every peer link, overridden per link (ilp.links.*.limits);
#   - every node also accepts the child account `sender` (its limits:
#     ilp.senderLimits, none by default) and runs the test receiver, so any
#     node can be a source or a destination;
#   - every node keeps its books in ilp.dataDir (DATA_DIR, /data) on a named
#     volume of its own, <node>-data, so a restart keeps them;
#   - every node has the admin API on (ADMIN_TOKEN, ilp.adminToken), and a
#     `dashboard` service (nix/dashboard.nix, ilp.dashboard) serves the
#     network page on port 8000, watching every node at
#     http://<service>:<health port>.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  ilpLib = import ./lib.nix { inherit lib; };
  cfg = config.ilp;

  nodeModule = {
    options = {
      index = mkOption { type = types.ints.unsigned; };
      routes = mkOption {
        type = types.attrsOf types.str;
        default = { };
      };
    };
  };

  linkModule = {
    options = {
      dialer = mkOption { type = types.str; };
      acceptor = mkOption { type = types.str; };
      # Each defaults to the network's ilp.peerLimits; set one here to
      # change it for this link only (null: unset on this link).
      limits = ilpLib.limitOptions (opt: cfg.peerLimits.${opt});
    };
  };

  btpPortOf = n: cfg.basePort + cfg.nodes.${n}.index;

  # Containers in the network (the nodes and the page): the health checks'
  # interval grows with it (nix/lib.nix, healthIntervalSeconds).
  networkSize = lib.length (lib.attrNames cfg.nodes) + (if cfg.dashboard.enable then 1 else 0);

  peersOf =
    name:
    lib.listToAttrs (
      lib.concatMap (
        l:
        lib.optional (l.dialer == name) (
          lib.nameValuePair l.acceptor {
            url = ilpLib.btpUrl l.acceptor (btpPortOf l.acceptor);
            secret = ilpLib.linkSecret l.acceptor l.dialer;
            inherit (l) limits;
          }
        )
        ++ lib.optional (l.acceptor == name) (
          lib.nameValuePair l.dialer {
            secret = ilpLib.linkSecret l.acceptor l.dialer;
            inherit (l) limits;
          }
        )
      ) cfg.links
    )
    // lib.optionalAttrs (cfg.senderSecret != null) {
      sender = {
        secret = cfg.senderSecret;
        relation = "child";
        limits = cfg.senderLimits;
      };
    };
in
{
  options.ilp = {
    routing = mkOption {
      type = types.enum [
        "ccp"
        "static"
      ];
      default = "ccp";
      description = ''
        How the nodes find their routes: "ccp" (the default) learns them from
        the peers (CCP route broadcast), so no ILP_ROUTES are rendered;
        "static" renders ROUTING=static and each node's `routes` as ILP_ROUTES.
      '';
    };
    nodes = mkOption {
      type = types.attrsOf (types.submodule nodeModule);
      default = { };
      description = "Nodes of the network, keyed by NODE_ID (also the service name).";
    };
    links = mkOption {
      type = types.listOf (types.submodule linkModule);
      default = [ ];
      description = "BTP links; each is declared once, from the dialing side.";
    };
    # The limits of every peer link, at both ends (each link may override
    # them: ilp.links.*.limits); null: unset.
    peerLimits = ilpLib.limitOptions (_: null);
    # The limits of the child account `sender` on every node; none by default.
    senderLimits = ilpLib.limitOptions (_: null);
    dataDir = mkOption {
      type = types.nullOr types.str;
      default = ilpLib.deployment.dataDir;
      defaultText = "/data (docker/deployment.json dataDir)";
      description = ''
        DATA_DIR of every node, where its own named volume <node>-data is
        mounted: the books survive a restart (and are deleted with the volume,
        `docker compose down -v`). null: no volumes, balances in memory.
      '';
    };
    basePort = mkOption {
      type = types.port;
      default = ilpLib.deployment.ports.btp;
      defaultText = "3000 (docker/deployment.json)";
      description = "Node i listens for BTP on basePort + i.";
    };
    baseHealthPort = mkOption {
      type = types.port;
      default = ilpLib.deployment.ports.health;
      defaultText = "8080 (docker/deployment.json)";
      description = "Node i serves health on baseHealthPort + i.";
    };
    image = mkOption {
      type = types.str;
      default = ilpLib.defaultImage;
    };
    imagePackage = mkOption {
      type = types.nullOr types.package;
      default = null;
      description = "See nix/connector.nix: let arion load the Nix-built image.";
    };
    logLevel = mkOption {
      type = types.str;
      default = "info";
    };
    senderSecret = mkOption {
      type = types.nullOr types.str;
      default = "sender-secret";
      description = "Secret of the child account `sender` on every node (null: none).";
    };
    receiverSecret = mkOption {
      type = types.nullOr types.str;
      default = "receiver-secret";
    };
    adminToken = mkOption {
      type = types.nullOr types.str;
      default = "admin-token";
      description = ''
        ADMIN_TOKEN of every node and the dashboard's DASHBOARD_ADMIN_TOKEN:
        the admin API (take links down, add latency and loss) is on. A
        test-network tool, like the fixed secrets above; null turns it off.
      '';
    };
    dashboard = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Add the `dashboard` service (ilp-connector dashboard, the network page).";
      };
      port = mkOption {
        type = types.port;
        default = ilpLib.deployment.ports.dashboard;
        defaultText = "8000 (docker/deployment.json)";
        description = "Port of the page, inside the container and (publishPorts) on the host.";
      };
    };
    containerNames = mkOption {
      type = types.bool;
      default = false;
      description = "container_name = service name (then two copies of one network cannot run side by side).";
    };
    publishPorts = mkOption {
      type = types.bool;
      default = true;
    };
    network = mkOption {
      type = types.str;
      default = ilpLib.defaultNetwork;
    };
    placement = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        connector-a = "host-1";
      };
      description = ''
        Node -> host label value. The Swarm stacks and Kubernetes manifests
        (nix/cluster.nix) pin each listed node to hosts labelled
        <placementLabel>=<value>; Compose ignores it (one host).
      '';
    };
    placementLabel = mkOption {
      type = types.str;
      default = "ilp.host";
      description = "Node label the placement constraints match (Swarm: node.labels.<label>; Kubernetes: nodeSelector).";
    };
  };

  config = {
    assertions = [
      {
        assertion = !(cfg.dashboard.enable && cfg.nodes ? dashboard);
        message = "a node may not be called `dashboard`: that is the network page's service";
      }
      {
        assertion = !(cfg.nodes ? sender) || cfg.senderSecret == null;
        message = "a node may not be called `sender`: that id is the child sender account";
      }
    ]
    ++ map (l: {
      assertion = cfg.nodes ? ${l.dialer} && cfg.nodes ? ${l.acceptor};
      message = "link ${l.dialer} -> ${l.acceptor} names an unknown node";
    }) cfg.links
    ++ lib.mapAttrsToList (n: _: {
      assertion = cfg.nodes ? ${n};
      message = "ilp.placement names an unknown node ${n}";
    }) cfg.placement;

    # One named volume per node, mounted at its DATA_DIR (nix/connector.nix).
    docker-compose.volumes = lib.mkIf (cfg.dataDir != null) (
      lib.mapAttrs' (name: _: lib.nameValuePair config.services.${name}.ilp.dataVolume { }) cfg.nodes
    );

    enableDefaultNetwork = false;
    networks.${cfg.network}.driver = "bridge";

    # A function, not an attrset: arion's services are types.submodule,
    # which reads a plain attrset as config only (no `imports`).
    services = lib.mapAttrs (name: node: _: {
      imports = [ ./connector.nix ];
      ilp = {
        inherit (node) index;
        inherit (cfg) routing;
        routes = if cfg.routing == "static" then node.routes else { };
        btpPort = cfg.basePort + node.index;
        healthPort = cfg.baseHealthPort + node.index;
        peers = peersOf name;
        inherit (cfg)
          dataDir
          image
          imagePackage
          logLevel
          receiverSecret
          adminToken
          publishPorts
          network
          ;
        containerName = cfg.containerNames;
        inherit networkSize;
      };
    }) cfg.nodes
    // lib.optionalAttrs cfg.dashboard.enable {
      # The network page, watching every node by service name.
      dashboard = _: {
        imports = [ ./dashboard.nix ];
        ilpDashboard = {
          nodes = lib.mapAttrs (
            name: node: "http://${name}:${toString (cfg.baseHealthPort + node.index)}"
          ) cfg.nodes;
          inherit (cfg.dashboard) port;
          hostPort = if cfg.publishPorts then cfg.dashboard.port else null;
          inherit (cfg)
            adminToken
            senderSecret
            receiverSecret
            image
            network
            ;
          containerName = cfg.containerNames;
          inherit networkSize;
        };
      };
    };
  };
}
