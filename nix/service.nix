# What every container of a topology has, whatever it runs: the options
# image, network, containerName and networkSize under the module's own
# attribute `ns`, and the arion settings that go with them (the image on that
# network, restarted unless stopped, as the image's user, no capabilities, a
# read-only root, no new privileges). Imported by nix/connector.nix (ns
# "ilp") and nix/dashboard.nix (ns "ilpDashboard"):
#
#   imports = [ (import ./service.nix "ilp") ];
ns:
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  ilpLib = import ./lib.nix { inherit lib; };
  deployment = ilpLib.deployment;
  cfg = config.${ns};
in
{
  _file = ./service.nix;

  options.${ns} = {
    image = mkOption {
      type = types.str;
      default = ilpLib.defaultImage;
    };
    network = mkOption {
      type = types.str;
      default = ilpLib.defaultNetwork;
    };
    containerName = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Set container_name to the service name. Off by default: Compose then
        names containers after the project (<project>-<service>-1, or
        <project>_<service>_1 with Compose 1.x), so networks of different
        projects never collide by name.
      '';
    };
    networkSize = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "Containers in the network: sets the health-check interval (nix/lib.nix, healthIntervalSeconds).";
    };
  };

  config = {
    service = {
      image = cfg.image;
      container_name = lib.mkIf cfg.containerName config.service.name;
      restart = "unless-stopped";
      networks = [ cfg.network ];
      user = "${toString deployment.user.uid}:${toString deployment.user.gid}";
      capabilities.ALL = false; # -> cap_drop: [ALL]
    };

    # Not modelled by arion's service options: add them to the raw output.
    out.service = {
      read_only = true;
      security_opt = [ "no-new-privileges:true" ];
    };
  };
}
