# NixOS VM test of one topology (pkgs.testers.runNixOSTest, as arion's own
# tests/ do): a VM with Docker, the Nix image loaded, the rendered Compose
# file brought up, then
#   - every container healthy;
#   - a packet from the first node to the farthest node's receiver fulfilled
#     (`ilp-connector send` in a container on the network) and one to an
#     unknown address rejected F02;
#   - a node's process killed (SIGKILL of its PID, a crash: the restart
#     policy brings it back), then the network healthy again with its links
#     up, and a packet through it fulfilled.
{
  pkgs,
  image,
  composeFiles,
  file,
  topology,
  project,
  first,
  farthest,
  crash,
}:
pkgs.testers.runNixOSTest {
  name = "ilp-connector-${topology}";
  nodes.machine =
    { ... }:
    {
      virtualisation.docker.enable = true;
      virtualisation.memorySize = 2048;
      virtualisation.diskSize = 4096;
      environment.systemPackages = [
        pkgs.docker-compose
        pkgs.jq
      ];
    };
  testScript = ''
    import json

    compose = "docker-compose -p ${project} -f ${composeFiles}/${file}"
    net = "${project}_ilp-network"

    def send(destination, count=5):
        out = machine.execute(
            f"docker run --rm --network {net} ilp-connector:latest send --json"
            f" --url ws://${first}:3000 --secret sender-secret"
            f" --receiver-secret receiver-secret --destination {destination} --count {count}"
        )[1]
        return json.loads(out.strip().splitlines()[-1])

    def all_healthy():
        ids = machine.succeed(f"{compose} ps -q").split()
        states = machine.succeed(
            "docker inspect -f '{{.State.Health.Status}}' " + " ".join(ids)
        ).split()
        return len(ids) > 0 and all(s == "healthy" for s in states)

    machine.wait_for_unit("docker.service")
    machine.succeed("docker load < ${image}")
    machine.succeed(f"{compose} up -d")
    with machine.nested("every node healthy"):
        retry(lambda _: all_healthy(), timeout=120)

    with machine.nested("edge to farthest: fulfilled"):
        summary = send("g.${farthest}.receiver")
        assert summary["fulfilled"] == 5, summary

    with machine.nested("unknown address: F02"):
        summary = send("g.nowhere.receiver", count=1)
        assert summary["fulfilled"] == 0, summary
        assert "F02" in json.dumps(summary["rejected"]), summary

    with machine.nested("crash of ${crash}: restarted, links back"):
        cid = machine.succeed(f"{compose} ps -q ${crash}").strip()
        pid = machine.succeed(f"docker inspect -f '{{{{.State.Pid}}}}' {cid}").strip()
        machine.succeed(f"kill -9 {pid}")
        retry(
            lambda _: int(machine.succeed(f"docker inspect -f '{{{{.RestartCount}}}}' {cid}")) >= 1,
            timeout=60,
        )
        retry(lambda _: all_healthy(), timeout=120)
        summary = send("g.${farthest}.receiver")
        assert summary["fulfilled"] == 5, summary
  '';
}
