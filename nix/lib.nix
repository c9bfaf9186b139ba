# Small pure helpers shared by the connector module and the topologies.
# Needs nothing but nixpkgs' `lib`.
{ lib }:
rec {
  # The deployment constants (image name, uid, ports, health-check timings,
  # the BTP_PEER_ prefix), defined once for Nix, the scripts and the tests.
  deployment = lib.importJSON ../docker/deployment.json;

  # The image every container runs unless told otherwise, and the Docker
  # network the topologies put them on.
  defaultImage = "${deployment.image.name}:${deployment.image.tag}";
  defaultNetwork = "ilp-network";

  # A Compose healthcheck with the image's timings, for a network of
  # `nodes` containers. Each check is a `docker exec`, which costs the
  # engine far more than the check itself: 50 containers checked every
  # second kept this 2-core host at load 26 and took 26-31 s to be healthy,
  # every 2 s 20 s (BENCHMARKS.md, "Start-up of whole networks"). So the
  # interval grows with the node count to keep the engine's exec rate at
  # most healthcheck.maxChecksPerSecond (30): 1 s up to 30 containers,
  # 2 s up to 60.
  healthIntervalSeconds =
    nodes:
    let
      h = deployment.healthcheck;
      n = lib.max 1 nodes;
      spread = (n + h.maxChecksPerSecond - 1) / h.maxChecksPerSecond;
    in
    lib.max h.intervalSeconds spread;

  composeHealthcheckFor =
    nodes:
    let
      h = deployment.healthcheck;
    in
    {
      test = [
        "CMD"
        "ilp-connector"
        "health"
      ];
      interval = "${toString (healthIntervalSeconds nodes)}s";
      timeout = "${toString h.timeoutSeconds}s";
      retries = h.retries;
      start_period = "${toString h.startPeriodSeconds}s";
    };

  alphabet = lib.stringToCharacters "abcdefghijklmnopqrstuvwxyz";

  # Bijective base-26 letters: 0 -> "a", 25 -> "z", 26 -> "aa", 27 -> "ab", ...
  letters =
    i:
    let
      q = i / 26;
      c = builtins.elemAt alphabet (i - 26 * q);
    in
    if q == 0 then c else letters (q - 1) + c;

  # Name of node i in the lettered topologies (linear, mesh).
  letterNode = i: "connector-${letters i}";

  # How a NODE_ID appears inside BTP_PEER_<ID>_* variable names: in
  # capitals, `-` as `_`. The binary's rule is config::env_name, the scripts'
  # scripts/peer_env.py; all three are checked against the examples of
  # docker/deployment.json (btpPeerEnvIds) by tests/docker.rs and
  # scripts/check-compose-rendered.sh.
  envId = id: lib.toUpper (lib.replaceStrings [ "-" ] [ "_" ] id);

  # The variable of setting `key` of peer `id`: BTP_PEER_<ID>_<KEY>.
  peerVar = id: key: "${deployment.btpPeerPrefix}${envId id}_${key}";

  # Shared secret of the link between two nodes. The accepting node (the one
  # with the lower index, since the higher index always dials the lower one)
  # comes first: secret-connector-a-connector-b, secret-connector-hub-spoke-2.
  linkSecret = acceptor: dialer: "secret-${acceptor}-${dialer}";

  # An option holding a string or null; null, the default, renders nothing.
  mkNullOrStr =
    description:
    lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      inherit description;
    };

  btpUrl = host: port: "ws://${host}:${toString port}";

  nodeIdPattern = "[a-z0-9]([a-z0-9-]*[a-z0-9])?";
}
