# Linear network: connector-a <-> connector-b <-> ... (ilp.linear.nodes, default 3).
# Node i dials node i-1. Node i routes every node left of i-1 to its left
# neighbour and every node right of i+1 to its right neighbour; direct
# neighbours need no route.
{ config, lib, ... }:
let
  ilpLib = import ../lib.nix { inherit lib; };
  n = config.ilp.linear.nodes;
  names = lib.genList ilpLib.letterNode n;
  name = builtins.elemAt names;
  routesOf =
    i:
    lib.listToAttrs (
      map (j: lib.nameValuePair "g.${name j}" (name (i - 1))) (lib.range 0 (i - 2))
      ++ map (j: lib.nameValuePair "g.${name j}" (name (i + 1))) (lib.range (i + 2) (n - 1))
    );
in
{
  imports = [ ../topology.nix ];

  options.ilp.linear.nodes = lib.mkOption {
    type = lib.types.ints.positive;
    default = 3;
    description = "Number of connectors in the chain.";
  };

  config = {
    # Books a developer can watch: we settle when we owe the peer 1000000
    # (back to 0), and the peer may owe us 10x that before we refuse it.
    ilp.peerLimits = ilpLib.presetPeerLimits;
    project.name = lib.mkDefault "ilp-linear";
    ilp.nodes = lib.listToAttrs (
      lib.imap0 (i: nm: lib.nameValuePair nm {
        index = i;
        routes = routesOf i;
      }) names
    );
    ilp.links = map (i: {
      dialer = name i;
      acceptor = name (i - 1);
    }) (lib.range 1 (n - 1));
  };
}
