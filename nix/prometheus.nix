# A Prometheus scrape configuration for one evaluated topology (nix/render.nix:
# evalTopology), with nixpkgs' lib only: every node's /metrics on its health
# port, through the host port the Compose file publishes (the same number:
# ilp.publishPorts), so a Prometheus on the host scrapes a running network:
#
#   prometheus --config.file=docker/prometheus.linear.yml
#
# Each target carries `node` (the NODE_ID) and `network` (the Compose
# project) labels. The `dashboard` service is not a target (it exports no
# metrics).
{ lib }:
let
  # Seconds between two scrapes: the network page polls every 0.5 s; a
  # Prometheus of a test network can afford a short interval too.
  scrapeIntervalSeconds = 5;
in
ev:
let
  cfg = ev.config.ilp;
  project = ev.config.out.dockerComposeYamlAttrs.x-arion.project.name;
  interval = "${toString scrapeIntervalSeconds}s";
in
{
  global = {
    scrape_interval = interval;
    evaluation_interval = interval;
  };
  scrape_configs = [
    {
      job_name = "ilp-connector";
      metrics_path = "/metrics";
      scheme = "http";
      static_configs = lib.mapAttrsToList (name: node: {
        targets = [ "127.0.0.1:${toString (cfg.baseHealthPort + node.index)}" ];
        labels = {
          node = name;
          network = project;
        };
      }) cfg.nodes;
    }
  ];
}
