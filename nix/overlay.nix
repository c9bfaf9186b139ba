# pkgs.ilp-connector and pkgs.ilp-connector-image, for arion-pkgs.nix and
# for anyone who wants them in their own nixpkgs.
{ crane }:
final: _prev:
let
  built = import ./package.nix {
    pkgs = final;
    inherit crane;
  };
in
{
  inherit (built) ilp-connector;
  ilp-connector-image = import ./image.nix {
    pkgs = final;
    inherit (built) ilp-connector;
  };
}
