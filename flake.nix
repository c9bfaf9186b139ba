{
  description = "ilp-connector: an Interledger connector, and one command to run a network of them";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    # nixpkgs' lib alone: enough to render the Compose files (lib.composeFiles)
    # without fetching or evaluating nixpkgs.
    nixpkgs-lib.url = "github:nix-community/nixpkgs.lib";
    crane.url = "github:ipetkov/crane";
    # Only arion's module files (src/nix) are used; as a non-flake input its
    # own development inputs stay out of this lock file. The arion CLI comes
    # from nixpkgs (devShells.default).
    arion = {
      url = "github:hercules-ci/arion";
      flake = false;
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      nixpkgs-lib,
      crane,
      arion,
    }:
    let
      inherit (nixpkgs-lib) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      render = import ./nix/render.nix { inherit lib arion crane; };
      # nixpkgs + overlays.default. Deliberately not exposed as
      # legacyPackages: `nix eval .#lib.x` looks there first, which would
      # fetch nixpkgs for what needs only lib.
      pkgsFor =
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
        };
      perSystem = lib.genAttrs systems (
        system:
        import ./nix/outputs.nix {
          pkgs = pkgsFor system;
          inherit
            lib
            system
            crane
            render
            ;
        }
      );
    in
    {
      # System-independent, needs only nixpkgs-lib + arion:
      #   nix eval --json .#lib.composeFiles
      lib = render;

      arionModules = {
        connector = ./nix/connector.nix;
        topology = ./nix/topology.nix;
        linear = ./nix/topologies/linear.nix;
        mesh = ./nix/topologies/mesh.nix;
        hub-spoke = ./nix/topologies/hub-spoke.nix;
      };

      overlays.default = import ./nix/overlay.nix { inherit crane; };

      packages = lib.mapAttrs (_: o: o.packages) perSystem;
      checks = lib.mapAttrs (_: o: o.checks) perSystem;
      apps = lib.mapAttrs (_: o: o.apps) perSystem;
      devShells = lib.mapAttrs (_: o: o.devShells) perSystem;
    };
}
