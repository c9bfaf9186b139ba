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

  # The four limits of a link's books (docs: README, "Balances and
  # settlement"): option name -> <KEY> of BTP_PEER_<ID>_<KEY>. Amounts in the
  # link's asset units; positive balance = the peer owes us.
  limitKeys = {
    balanceMinimum = "BALANCE_MINIMUM";
    balanceMaximum = "BALANCE_MAXIMUM";
    settleThreshold = "SETTLE_THRESHOLD";
    settleTo = "SETTLE_TO";
  };

  # Options for the four limits, each an integer or null (unset: unbounded,
  # no settlement; the binary's SETTLE_TO default is 0). `defaultOf name`
  # gives each option's default (null, or a topology-wide value).
  limitOptions =
    defaultOf:
    let
      what = {
        balanceMinimum = "least balance (most we may owe the peer); outgoing Prepares past it are refused T04 before sending";
        balanceMaximum = "greatest balance (most the peer may owe us); incoming Prepares past it are rejected T04";
        settleThreshold = "settle when our balance falls below this (we owe the peer)";
        settleTo = "the balance a settlement brings us back to (the binary's default: 0)";
      };
    in
    lib.mapAttrs (
      opt: key:
      lib.mkOption {
        type = lib.types.nullOr lib.types.int;
        default = defaultOf opt;
        description = "BTP_PEER_<ID>_${key}: the ${what.${opt}}; null leaves it unset.";
      }
    ) limitKeys;

  # The peer-link limits of the committed presets (linear, mesh, hub-spoke),
  # each mkDefault so a composition can change any of them: settlement on,
  # at amounts a developer can watch move. No minimum.
  presetPeerLimits = lib.mapAttrs (_: lib.mkDefault) {
    settleThreshold = -1000000;
    settleTo = 0;
    balanceMaximum = 10000000;
  };

  # The binary's checks of a set of limits (accounts::balance::Limits::
  # validate), as module assertions: a render never carries limits the
  # node would refuse at start. `where` names the link in the message.
  limitAssertions =
    where: l:
    let
      set = v: v != null;
      settleTo = if l.settleTo == null then 0 else l.settleTo;
      withThreshold = set l.settleThreshold;
    in
    [
      {
        assertion = !(set l.balanceMinimum && set l.balanceMaximum) || l.balanceMinimum <= l.balanceMaximum;
        message = "${where}: balanceMinimum ${toString l.balanceMinimum} is above balanceMaximum ${toString l.balanceMaximum}";
      }
      {
        assertion = !(withThreshold && set l.balanceMinimum) || l.settleThreshold > l.balanceMinimum;
        message = "${where}: settleThreshold ${toString l.settleThreshold} must be above balanceMinimum ${toString l.balanceMinimum}";
      }
      {
        assertion = !withThreshold || settleTo > l.settleThreshold;
        message = "${where}: settleTo ${toString settleTo} must be above settleThreshold ${toString l.settleThreshold}";
      }
      {
        assertion = !(withThreshold && set l.balanceMaximum) || settleTo <= l.balanceMaximum;
        message = "${where}: settleTo ${toString settleTo} is above balanceMaximum ${toString l.balanceMaximum}";
      }
    ];

  btpUrl = host: port: "ws://${host}:${toString port}";

  nodeIdPattern = "[a-z0-9]([a-z0-9-]*[a-z0-9])?";
}
