# Full mesh: every pair of nodes is peered once (ilp.mesh.nodes, default 4).
# The node with the higher index dials the one with the lower index, which
# accepts. Every node is a direct peer of every other, so no routes.
{ config, lib, ... }:
let
  ilpLib = import ../lib.nix { inherit lib; };
  n = config.ilp.mesh.nodes;
  name = ilpLib.letterNode;
in
{
  imports = [ ../topology.nix ];

  options.ilp.mesh.nodes = lib.mkOption {
    type = lib.types.ints.positive;
    default = 4;
    description = "Number of connectors in the mesh.";
  };

  config = {
    # Books a developer can watch: we settle when we owe the peer 1000000
    # (back to 0), and the peer may owe us 10x that before we refuse it.
    ilp.peerLimits = ilpLib.presetPeerLimits;
    project.name = lib.mkDefault "ilp-mesh";
    ilp.nodes = lib.listToAttrs (
      lib.genList (i: lib.nameValuePair (name i) { index = i; }) n
    );
    ilp.links = lib.concatMap (
      i:
      map (j: {
        dialer = name i;
        acceptor = name j;
      }) (lib.range 0 (i - 1))
    ) (lib.range 1 (n - 1));
  };
}
