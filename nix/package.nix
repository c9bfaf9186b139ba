# The crate, built with crane: dependencies once (buildDepsOnly), then the
# crate itself (buildPackage). Also returns what the checks reuse.
{ pkgs, crane }:
let
  inherit (pkgs) lib;
  craneLib = crane.mkLib pkgs;
  root = ../.;

  # Cargo sources (Cargo.toml/lock, *.rs, *.toml) plus the JSON test vectors
  # the tests read (tests/vectors/*.json; absent is fine).
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (craneLib.fileset.commonCargoSources root)
      (lib.fileset.intersection (lib.fileset.maybeMissing ../tests/vectors) (
        lib.fileset.fileFilter (f: f.hasExt "json") root
      ))
    ];
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
