# Small pure helpers shared by the connector module and the topologies.
# Needs nothing but nixpkgs' `lib`.
{ lib }:
rec {
  # The deployment constants (image name, uid, ports, health-check timings,
  # the BTP_PEER_ prefix), defined once for Nix, the scripts and the tests.
  deployment = lib.importJSON ../docker/deployment.json;

  # A Compose healthcheck with the image's timings.
  composeHealthcheck =
    let
      h = deployment.healthcheck;
    in
    {
      test = [
        "CMD"
        "ilp-connector"
        "health"
      ];
      interval = "${toString h.intervalSeconds}s";
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

  # How a NODE_ID appears inside BTP_PEER_<ID>_* variable names.
  envId = id: lib.toUpper (lib.replaceStrings [ "-" ] [ "_" ] id);

  # Shared secret of the link between two nodes. The accepting node (the one
  # with the lower index, since the higher index always dials the lower one)
  # comes first: secret-connector-a-connector-b, secret-connector-hub-spoke-2.
  linkSecret = acceptor: dialer: "secret-${acceptor}-${dialer}";

  btpUrl = host: port: "ws://${host}:${toString port}";

  nodeIdPattern = "[a-z0-9]([a-z0-9-]*[a-z0-9])?";
}
