# `arion up` in this directory brings up the default network: linear, 3 nodes
# (the same services as docker-compose.yml). Change the size with e.g.
#   ilp.linear.nodes = 5;
# or import ./nix/topologies/mesh.nix or ./nix/topologies/hub-spoke.nix instead.
{ pkgs, ... }:
{
  imports = [ ./nix/topologies/linear.nix ];

  # With the real nixpkgs (arion-pkgs.nix) arion builds the image with Nix and
  # `docker load`s it before starting the services. (`or null`: evaluated
  # without it, the services just use the already loaded ilp-connector:latest.)
  ilp.imagePackage = pkgs.ilp-connector-image or null;
}
