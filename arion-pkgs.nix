# The nixpkgs arion evaluates arion-compose.nix with: this flake's locked
# nixpkgs plus its overlay (pkgs.ilp-connector, pkgs.ilp-connector-image).
# Needs a Nix with flakes enabled (experimental-features = nix-command flakes).
let
  flake = builtins.getFlake (toString ./.);
in
import flake.inputs.nixpkgs {
  system = builtins.currentSystem;
  overlays = [ flake.overlays.default ];
}
