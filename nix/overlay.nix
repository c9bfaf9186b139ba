# pkgs.ilp-connector, pkgs.ilp-connector-static, pkgs.ilp-connector-image,
# and pkgs.ilp-connector-crane (what nix/outputs.nix reuses for the checks),
# for arion-pkgs.nix and for anyone who wants them in their own nixpkgs.
# nix/package.nix is instantiated here only.
{ crane }:
final: _prev:
let
  built = import ./package.nix {
    pkgs = final;
    inherit crane;
  };
in
{
  ilp-connector-crane = built;
  inherit (built) ilp-connector ilp-connector-static;
  ilp-connector-image = import ./image.nix {
    pkgs = final;
    inherit (built) ilp-connector-static;
  };
}
