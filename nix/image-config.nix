# The OCI image configuration of ilp-connector:latest, from
# docker/deployment.json: the same user, environment, entrypoint, ports,
# health check and label as the Dockerfile's image stage (tests/docker.rs
# checks the Dockerfile side; scripts/check-fresh-clone-build.sh compares
# this, `nix eval --json .#lib.imageConfig`, with `docker image inspect` of
# the Dockerfile image). Needs only lib.
{ lib }:
let
  d = (import ./lib.nix { inherit lib; }).deployment;
  seconds = s: s * 1000000000; # the image config counts nanoseconds
in
{
  User = "${toString d.user.uid}:${toString d.user.gid}";
  Env = d.env;
  Entrypoint = [ d.binary ];
  ExposedPorts = {
    "${toString d.ports.btp}/tcp" = { };
    "${toString d.ports.health}/tcp" = { };
  };
  Healthcheck = {
    Test = [
      "CMD"
      d.binary
      "health"
    ];
    Interval = seconds d.healthcheck.intervalSeconds;
    Timeout = seconds d.healthcheck.timeoutSeconds;
    StartPeriod = seconds d.healthcheck.startPeriodSeconds;
    Retries = d.healthcheck.retries;
  };
  Labels."org.opencontainers.image.title" = d.image.title;
}
