# Hub and spokes: connector-hub (index 0) and spoke-1 .. spoke-N
# (ilp.hubSpoke.spokes, default 3). Every spoke dials the hub and sends
# everything there (ILP_ROUTES=g=connector-hub, a default route); the hub
# reaches each spoke directly.
{ config, lib, ... }:
let
  ilpLib = import ../lib.nix { inherit lib; };
  n = config.ilp.hubSpoke.spokes;
  hub = "connector-hub";
  spoke = k: "spoke-${toString k}";
in
{
  imports = [ ../topology.nix ];

  options.ilp.hubSpoke.spokes = lib.mkOption {
    type = lib.types.ints.positive;
    default = 3;
    description = "Number of spokes around the hub.";
  };

  config = {
    # Books a developer can watch: we settle when we owe the peer 1000000
    # (back to 0), and the peer may owe us 10x that before we refuse it.
    ilp.peerLimits = ilpLib.presetPeerLimits;
    project.name = lib.mkDefault "ilp-hub-spoke";
    ilp.nodes = {
      ${hub}.index = 0;
    }
    // lib.listToAttrs (
      map (k: lib.nameValuePair (spoke k) {
        index = k;
        routes.g = hub;
      }) (lib.range 1 n)
    );
    ilp.links = map (k: {
      dialer = spoke k;
      acceptor = hub;
    }) (lib.range 1 n);
  };
}
