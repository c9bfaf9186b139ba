# The crate, built with crane: dependencies once (buildDepsOnly), then the
# crate itself (buildPackage). Also returns what the checks reuse.
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
in
{
  inherit
    craneLib
    src
    commonArgs
    cargoArtifacts
    ilp-connector
    ;
}
