# Docker Swarm stacks and Kubernetes manifests, derived from an evaluated
# arion topology (nix/render.nix: evalTopology) with nixpkgs' lib only.
#
# Nothing here describes a network: nodes, links, ports, environment, image
# and health-check timings all come from the topology modules (the Compose
# render's own output, out.dockerComposeYamlAttrs, and config.ilp), so a
# change there (routes dropped for CCP, a new service) flows into every
# render. What this file adds is only what a cluster needs:
#   - every secret (link secrets, the `sender` account, the test receiver,
#     the admin token) moves out of the environment into a Docker secret /
#     Kubernetes Secret, read through BTP_PEER_<ID>_SECRET_FILE /
#     RECEIVER_SECRET_FILE / ADMIN_TOKEN_FILE, and the same for any other
#     service (the dashboard's DASHBOARD_*_SECRET / _TOKEN, see secretVars);
#   - Swarm: overlay network (attachable), deploy (1 replica, restart policy,
#     limits, update config, endpoint_mode dnsrr), no container_name /
#     depends_on / restart; each node's books on its Compose volume
#     (<stack>_<node>-data, on the host its task runs on);
#   - Kubernetes: a Namespace per network, per node a StatefulSet (one
#     replica, its books on a PersistentVolumeClaim of its own from the
#     volumeClaimTemplate `data`, mounted at DATA_DIR) and a Service named
#     after the node (so the BTP URLs ws://<node>:<port> of the Compose
#     render resolve unchanged inside the namespace), a Secret per link,
#     probes, a restricted securityContext, requests/limits;
#   - placement: config.ilp.placement (node -> host label value).
{ lib }:
let
  ilpLib = import ./lib.nix { inherit lib; };
  deployment = ilpLib.deployment;
  uid = deployment.user.uid;
  gid = deployment.user.gid;

  # Per-node resources (the connector idles at a few MiB; see BENCHMARKS.md).
  resources = {
    cpuRequest = "50m";
    cpuLimit = "500m";
    memoryRequest = "16Mi";
    memoryLimit = "128Mi";
    # The same limits in Swarm's notation.
    swarmCpus = "0.5";
    swarmMemory = "128M";
    # Each node's claim for its books (balances and settlements: a few
    # hundred bytes per link and settlement; SQLite in DATA_DIR).
    dataStorage = "1Gi";
  };

  # Every Kubernetes container (nodes and extras): non-root, read-only,
  # no privilege escalation, no capabilities; the per-node requests/limits.
  k8sContainerSecurity = {
    runAsNonRoot = true;
    readOnlyRootFilesystem = true;
    allowPrivilegeEscalation = false;
    capabilities.drop = [ "ALL" ];
  };
  # Every Kubernetes pod: its user and group, the runtime's seccomp profile,
  # and where it mounts secrets, fsGroup (the group of the projected files).
  k8sPodSecurity =
    { mountsSecrets }:
    {
      runAsNonRoot = true;
      runAsUser = uid;
      runAsGroup = gid;
      seccompProfile.type = "RuntimeDefault";
    }
    // lib.optionalAttrs mountsSecrets { fsGroup = gid; };
  k8sResources = {
    requests = {
      cpu = resources.cpuRequest;
      memory = resources.memoryRequest;
    };
    limits = {
      cpu = resources.cpuLimit;
      memory = resources.memoryLimit;
    };
  };

  # Failed checks (1 s apart) before Swarm replaces a task; see swarmStack.
  swarmHealthRetries = 15;

  # Secret-carrying variables other than the per-peer ones -> the secret
  # object holding the value (shared: the dashboard's sender secret is the
  # nodes' `sender` account secret). Each is rendered as <VAR>_FILE.
  secretVars = {
    RECEIVER_SECRET = "account-receiver";
    ADMIN_TOKEN = "admin-token";
    DASHBOARD_ADMIN_TOKEN = "admin-token";
    DASHBOARD_SENDER_SECRET = "account-sender";
    DASHBOARD_RECEIVER_SECRET = "account-receiver";
  };
  # var -> secret name, value, for the secretVars present in `env`.
  varSecrets = env: lib.filterAttrs (v: _: env ? ${v}) secretVars;

  k8sSecretDir = "/run/secrets/ilp";
  # The projected `secrets` volume, as every pod that reads secrets mounts it.
  k8sSecretsMount = {
    name = "secrets";
    mountPath = k8sSecretDir;
    readOnly = true;
  };
  swarmSecretDir = "/run/secrets";

  # The facts one render needs, from the evaluated topology `ev`.
  facts =
    ev:
    let
      cfg = ev.config.ilp;
      compose = ev.config.out.dockerComposeYamlAttrs;
      project = compose.x-arion.project.name;
      linkOf =
        a: b:
        lib.findFirst (
          l: (l.dialer == a && l.acceptor == b) || (l.dialer == b && l.acceptor == a)
        ) null cfg.links;
      # Name of the secret object holding the secret of `node`'s peer `id`.
      secretNameOf =
        node: id:
        let
          l = linkOf node id;
        in
        if l != null then "link-${l.acceptor}-${l.dialer}" else "account-${id}";
      nodeFacts =
        name:
        let
          svc = compose.services.${name};
          nodeCfg = ev.config.services.${name}.ilp;
          env = svc.environment;
          peerSecrets = lib.filterAttrs (_: p: p.secret != null) nodeCfg.peers;
          # secret object name -> value
          secrets =
            lib.mapAttrs' (id: p: lib.nameValuePair (secretNameOf name id) p.secret) peerSecrets
            // lib.mapAttrs' (v: sn: lib.nameValuePair sn env.${v}) (varSecrets env);
          # environment variable -> secret object name
          secretEnv =
            lib.mapAttrs' (
              id: _:
              lib.nameValuePair (ilpLib.peerVar id "SECRET_FILE") (secretNameOf name id)
            ) peerSecrets
            // lib.mapAttrs' (v: sn: lib.nameValuePair "${v}_FILE" sn) (varSecrets env);
          plainEnv = removeAttrs env (
            map (id: ilpLib.peerVar id "SECRET") (lib.attrNames peerSecrets)
            ++ lib.attrNames (varSecrets env)
          );
        in
        {
          inherit
            name
            svc
            secrets
            secretEnv
            plainEnv
            ;
          # The books: DATA_DIR and the Compose volume mounted there (null
          # when the topology keeps balances in memory).
          dataDir = nodeCfg.dataDir;
          dataVolume = if nodeCfg.dataDir != null then nodeCfg.dataVolume else null;
          btpPort = lib.toInt env.BTP_SERVER_PORT;
          healthPort = lib.toInt env.HEALTH_PORT;
          placement = cfg.placement.${name} or null;
        };
      # Connector nodes are the services built from nix/connector.nix; any
      # other service of the composition (a dashboard, say) is carried over
      # generically (`extraFacts`).
      isNode = name: ev.config.services.${name} ? ilp;
      names = lib.attrNames compose.services;
      nodes = map nodeFacts (lib.filter isNode names);
      extraFacts = name: let
        env = compose.services.${name}.environment or { };
      in {
        inherit name;
        svc = compose.services.${name};
        secrets = lib.mapAttrs' (v: sn: lib.nameValuePair sn env.${v}) (varSecrets env);
        secretEnv = lib.mapAttrs' (v: sn: lib.nameValuePair "${v}_FILE" sn) (varSecrets env);
        plainEnv = removeAttrs env (lib.attrNames (varSecrets env));
        # "host:container" (or "container") -> { published; target; }
        ports = map (
          p:
          let
            parts = lib.splitString ":" (toString p);
          in
          {
            target = lib.toInt (lib.last parts);
            published = lib.toInt (builtins.head parts);
          }
        ) (compose.services.${name}.ports or [ ]);
      };
      extras = map extraFacts (lib.filter (n: !isNode n) names);
    in
    {
      inherit project nodes extras;
      inherit (cfg) network placementLabel placement;
      volumes = compose.volumes or { };
      secrets = lib.foldl' (acc: n: acc // n.secrets) { } (nodes ++ extras);
    };

  # ---------------------------------------------------------------- Swarm
  swarmStack =
    ev:
    let
      f = facts ev;
      service = n: {
        # The image's check, but Swarm replaces an unhealthy task (Compose
        # does not), and /health is unhealthy while any link is down: with
        # the image's 3 retries, a peer restarting for 3 s got its
        # neighbours restarted too. swarmHealthRetries rides that out.
        healthcheck = n.svc.healthcheck // {
          retries = swarmHealthRetries;
        };
        inherit (n.svc)
          image
          user
          read_only
          cap_drop
          ;
        networks = [ f.network ];
        environment =
          n.plainEnv // lib.mapAttrs (_: s: "${swarmSecretDir}/${s}") n.secretEnv;
        secrets = swarmSecrets n;
        deploy = swarmDeploy n;
      }
      # The books on the node's volume. A named volume is local to the host
      # the task runs on: pin the node (ilp.placement) for its books to
      # follow it in a swarm of several hosts.
      // lib.optionalAttrs ((n.svc.volumes or [ ]) != [ ]) { inherit (n.svc) volumes; };
      swarmSecrets =
        n:
        map (s: {
          source = s;
          target = s;
          uid = toString uid;
          gid = toString gid;
          mode = 256; # 0400
        }) (lib.unique (lib.attrValues n.secretEnv));
      swarmDeploy = n: {
          mode = "replicated";
          replicas = 1;
          # One task per service: DNS round robin loses nothing, and the
          # VIP does not route on the engine this was tested on (README).
          endpoint_mode = "dnsrr";
          restart_policy = {
            condition = "any";
            delay = "1s";
            window = "10s";
          };
          update_config = {
            parallelism = 1;
            delay = "1s";
            order = "stop-first";
            failure_action = "rollback";
            monitor = "10s";
          };
          resources = {
            limits = {
              cpus = resources.swarmCpus;
              memory = resources.swarmMemory;
            };
          };
        }
        // lib.optionalAttrs ((n.placement or null) != null) {
          placement.constraints = [ "node.labels.${f.placementLabel} == ${n.placement}" ];
        };
      # Not a connector: the Compose service as Swarm takes it, its ports
      # published on the host its task runs on (dnsrr has no ingress).
      extraService =
        e:
        lib.filterAttrs (_: v: v != { } && v != [ ]) (
          lib.getAttrs (lib.filter (a: e.svc ? ${a}) [
            "image"
            "command"
            "entrypoint"
            "healthcheck"
            "user"
            "read_only"
            "cap_drop"
            "networks"
          ]) e.svc
        )
        // {
          deploy = swarmDeploy (e // { placement = f.placement.${e.name} or null; });
        }
        // lib.optionalAttrs (e.svc ? healthcheck) {
          # As for the nodes: Swarm replaces an unhealthy task, so a loaded
          # host's slow probes must not restart it every few seconds.
          healthcheck = e.svc.healthcheck // {
            retries = swarmHealthRetries;
          };
        }
        // lib.optionalAttrs (e.svc ? environment) {
          environment = e.plainEnv // lib.mapAttrs (_: s: "${swarmSecretDir}/${s}") e.secretEnv;
        }
        // lib.optionalAttrs (e.secretEnv != { }) { secrets = swarmSecrets e; }
        // lib.optionalAttrs (e.ports != [ ]) {
          ports = map (p: p // { mode = "host"; }) e.ports;
        };
    in
    {
      version = "3.8";
      networks.${f.network} = {
        driver = "overlay";
        attachable = true;
      };
      services =
        lib.listToAttrs (map (n: lib.nameValuePair n.name (service n)) f.nodes)
        // lib.listToAttrs (map (e: lib.nameValuePair e.name (extraService e)) f.extras);
      secrets = lib.mapAttrs (s: _: { file = "./secrets/${s}"; }) f.secrets;
    }
    // lib.optionalAttrs (f.volumes != { }) { inherit (f) volumes; };

  # ------------------------------------------------------------ Kubernetes
  k8sManifests =
    ev:
    let
      f = facts ev;
      ns = f.project;
      labelsOf = n: {
        "app.kubernetes.io/name" = "ilp-connector";
        "app.kubernetes.io/instance" = n.name;
        "app.kubernetes.io/part-of" = f.project;
      };
      meta = name: extra: {
        inherit name;
        namespace = ns;
        labels = {
          "app.kubernetes.io/part-of" = f.project;
        }
        // extra;
      };
      secret = s: v: {
        apiVersion = "v1";
        kind = "Secret";
        metadata = meta s { };
        type = "Opaque";
        stringData.secret = v;
      };
      # The secrets a node or other service reads, one file each.
      secretsVolume = n: {
        name = "secrets";
        projected = {
          defaultMode = 288; # 0440, group fsGroup
          sources = map (s: {
            secret = {
              name = s;
              items = [
                {
                  key = "secret";
                  path = s;
                }
              ];
            };
          }) (lib.unique (lib.attrValues n.secretEnv));
        };
      };
      # A Service named `name` selecting the pods labelled `labels`.
      serviceOf = name: labels: ports: {
        apiVersion = "v1";
        kind = "Service";
        metadata = meta name labels;
        spec = {
          selector = labels;
          inherit ports;
        };
      };
      service =
        n:
        serviceOf n.name (labelsOf n) [
          {
            name = "btp";
            port = n.btpPort;
            targetPort = "btp";
          }
          {
            name = "health";
            port = n.healthPort;
            targetPort = "health";
          }
        ];
      # A one-replica Deployment (or StatefulSet: `kind`) named `name` of
      # pods labelled `labels`: `pod` is their spec, to which every pod here
      # adds no service account token, no service links and k8sPodSecurity;
      # `spec` adds to the workload's own spec, `podSecurity` to the pod's.
      deploymentWith =
        {
          name,
          labels,
          mountsSecrets,
          kind ? "Deployment",
          spec ? { },
          podSecurity ? { },
          pod,
        }:
        {
          apiVersion = "apps/v1";
          inherit kind;
          metadata = meta name labels;
          spec = {
            replicas = 1;
            selector.matchLabels = labels;
            template = {
              metadata.labels = labels;
              spec = {
                automountServiceAccountToken = false;
                enableServiceLinks = false;
                securityContext = k8sPodSecurity { inherit mountsSecrets; } // podSecurity;
              }
              // pod;
            };
          }
          // spec;
        };
      # A container's env: the plain variables, then each <VAR>_FILE of
      # secretEnv with the path of its secret's file.
      envOf =
        x:
        lib.mapAttrsToList (name: value: {
          inherit name;
          value = toString value;
        }) x.plainEnv
        ++ lib.mapAttrsToList (name: s: {
          inherit name;
          value = "${k8sSecretDir}/${s}";
        }) x.secretEnv;
      # A node is a StatefulSet rather than a Deployment with a claim of its
      # own: the claim comes from the set's volumeClaimTemplate (data-<node>-0,
      # kept when the pod is replaced or the set deleted), and the set never
      # starts the pod's successor until the old pod is gone, so one node's
      # books never have two writers (a Deployment's ReplicaSet replaces a
      # pod on a lost host while it still counts as terminating).
      dataClaim = "data";
      nodeWorkloadOf =
        n:
        let
          h = deployment.healthcheck;
          books = n.dataDir != null;
        in
        deploymentWith {
          inherit (n) name;
          labels = labelsOf n;
          mountsSecrets = true;
          kind = if books then "StatefulSet" else "Deployment";
          spec =
            if books then
              {
                # The Service of the same name (the set's governing service).
                serviceName = n.name;
                # One replica, rolled by deleting it first: never two pods
                # of one node (they would both dial its peers).
                updateStrategy.type = "RollingUpdate";
                persistentVolumeClaimRetentionPolicy = {
                  whenDeleted = "Retain";
                  whenScaled = "Retain";
                };
                volumeClaimTemplates = [
                  {
                    metadata = {
                      name = dataClaim;
                      labels = labelsOf n;
                    };
                    spec = {
                      accessModes = [ "ReadWriteOnce" ];
                      resources.requests.storage = resources.dataStorage;
                    };
                  }
                ];
              }
            else
              # Never two tasks of one node (they would both dial its peers).
              { strategy.type = "Recreate"; };
          # fsGroup makes the claim's root group-writable for the image's
          # group; only when it is not already (not at every start).
          podSecurity = lib.optionalAttrs books { fsGroupChangePolicy = "OnRootMismatch"; };
          pod = {
            containers = [
              {
                name = "ilp-connector";
                inherit (n.svc) image;
                imagePullPolicy = "IfNotPresent";
                env = envOf n;
                ports = [
                  {
                    name = "btp";
                    containerPort = n.btpPort;
                  }
                  {
                    name = "health";
                    containerPort = n.healthPort;
                  }
                ];
                # Ready when GET /health says 200 (links up); alive while
                # the health port answers at all, so a peer that is down
                # makes the node unready, never restarts it.
                readinessProbe = {
                  httpGet = {
                    path = "/health";
                    port = "health";
                  };
                  periodSeconds = h.intervalSeconds;
                  timeoutSeconds = h.timeoutSeconds;
                  failureThreshold = h.retries;
                };
                livenessProbe = {
                  tcpSocket.port = "health";
                  initialDelaySeconds = h.startPeriodSeconds;
                  periodSeconds = 10;
                  timeoutSeconds = h.timeoutSeconds;
                  failureThreshold = h.retries;
                };
                securityContext = k8sContainerSecurity // {
                  runAsUser = uid;
                  runAsGroup = gid;
                };
                resources = k8sResources;
                volumeMounts = [
                  k8sSecretsMount
                ]
                ++ lib.optional books {
                  name = dataClaim;
                  mountPath = n.dataDir;
                };
              }
            ];
            volumes = [ (secretsVolume n) ];
          }
          // lib.optionalAttrs (n.placement != null) {
            nodeSelector.${f.placementLabel} = n.placement;
          };
        };
      # Not a connector: a Deployment and (if it has ports) a Service of the
      # same name, with the connector's restricted securityContext. No
      # probes: nothing says what its health is (its Compose healthcheck
      # would be an exec of a command this render cannot translate).
      extraLabels = e: {
        "app.kubernetes.io/name" = e.name;
        "app.kubernetes.io/instance" = e.name;
        "app.kubernetes.io/part-of" = f.project;
      };
      extraService =
        e:
        serviceOf e.name (extraLabels e) (
          map (p: {
            name = "port-${toString p.target}";
            port = p.target;
            targetPort = p.target;
          }) e.ports
        );
      extraDeployment =
        e:
        deploymentWith {
          inherit (e) name;
          labels = extraLabels e;
          mountsSecrets = e.secretEnv != { };
          pod = {
            containers = [
              (
                {
                  inherit (e) name;
                  inherit (e.svc) image;
                  imagePullPolicy = "IfNotPresent";
                  env = envOf e;
                  ports = map (p: { containerPort = p.target; }) e.ports;
                  securityContext = k8sContainerSecurity;
                  resources = k8sResources;
                }
                // lib.optionalAttrs (e.svc ? command) {
                  args = if builtins.isList e.svc.command then e.svc.command else [ e.svc.command ];
                }
                // lib.optionalAttrs (e.secretEnv != { }) {
                  volumeMounts = [ k8sSecretsMount ];
                }
              )
            ];
          }
          // lib.optionalAttrs (e.secretEnv != { }) { volumes = [ (secretsVolume e) ]; }
          // lib.optionalAttrs (f.placement ? ${e.name}) {
            nodeSelector.${f.placementLabel} = f.placement.${e.name};
          };
        };
    in
    [
      {
        apiVersion = "v1";
        kind = "Namespace";
        metadata = {
          name = ns;
          labels."app.kubernetes.io/part-of" = f.project;
        };
      }
    ]
    ++ lib.mapAttrsToList secret f.secrets
    ++ map service f.nodes
    ++ map nodeWorkloadOf f.nodes
    ++ map extraService (lib.filter (e: e.ports != [ ]) f.extras)
    ++ map extraDeployment f.extras;
in
{
  inherit swarmStack k8sManifests facts;
}
