# The crate's source set: what crane builds and tests from. Needs only
# nixpkgs' lib and crane's file-set helpers, so it can be evaluated (and
# tested: scripts/test-source-set.sh) without nixpkgs.
#
#   craneFileset: craneLib.fileset, or (without nixpkgs) the same functions
#   imported from crane's source with lib alone (see `craneFilesetLibOnly`).
{ lib, craneFileset }:
let
  root = ../.;
  maybe = lib.fileset.maybeMissing;
in
lib.fileset.toSource {
  inherit root;
  fileset = lib.fileset.unions [
    # Cargo.toml/lock, every *.rs and *.toml (crane's quick-start set).
    (craneFileset.commonCargoSources root)
    # Everything under the crate's target directories, whatever its
    # extension: test vectors (tests/vectors/*.json), pages or data a module
    # includes with include_str!, fixtures.
    (maybe ../src)
    (maybe ../tests)
    (maybe ../benches)
    (maybe ../examples)
    # Files the tests read outside those: tests/docker.rs checks the
    # committed Compose files, the Dockerfiles, the image root and the
    # deployment constants.
    (maybe ../docker-compose.yml)
    (maybe ../Dockerfile)
    (maybe ../docker)
    # deny.toml for checks.cargo-deny (a *.toml, listed for clarity).
    (maybe ../deny.toml)
  ];
}
