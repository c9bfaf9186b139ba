# The crate, built with crane: dependencies once (buildDepsOnly), then the
# crate itself (buildPackage), plus the static (musl, pkgsStatic) build the
# image uses. Instantiated once, in nix/overlay.nix (pkgs.ilp-connector-crane);
# nix/outputs.nix reuses that.
{ pkgs, crane }:
let
  inherit (pkgs) lib;
  craneLib = crane.mkLib pkgs;

  # nix/source.nix: Cargo sources plus every file a test reads.
  src = import ./source.nix {
    inherit lib;
    craneFileset = craneLib.fileset;
  };

  commonArgs = {
    inherit src;
    strictDeps = true;
  };

  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  ilp-connector = craneLib.buildPackage (
    commonArgs
    // {
      inherit cargoArtifacts;
      # The tests run once, in checks.ilp-connector-nextest.
      doCheck = false;
      meta.mainProgram = "ilp-connector";
    }
  );

  # Static musl binary for the image: crane on nixpkgs' pkgsStatic (its
  # cross toolchain for <arch>-unknown-linux-musl, static by default).
  craneLibStatic = crane.mkLib pkgs.pkgsStatic;
  staticArgs = {
    inherit src;
    strictDeps = true;
    doCheck = false;
  };
  ilp-connector-static = craneLibStatic.buildPackage (
    staticArgs
    // {
      cargoArtifacts = craneLibStatic.buildDepsOnly staticArgs;
      meta.mainProgram = "ilp-connector";
    }
  );
in
{
  inherit
    craneLib
    src
    commonArgs
    cargoArtifacts
    ilp-connector
    ilp-connector-static
    ;
}
