#!/usr/bin/env python3
"""Write the Compose files from the JSON that `nix eval --json .#lib.composeFiles` prints
(and, for `.#lib.allFiles`, the Swarm stacks, their secret files and the
Kubernetes manifests and the Prometheus scrape configurations: entries with
"kind" swarm, k8s, prometheus or text).

Usage: compose-yaml.py OUTDIR < files.json

Each file gets a comment header naming the arion module it was rendered from
and the command that regenerates it, then the Compose document as YAML with
sorted keys (PyYAML, safe_dump). Used by scripts/render-compose.sh and by the
flake (packages.compose-files, checks.render-*), so both write the same bytes.
"""
import json
import os
import sys

import yaml


class Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    # Quote anything with a colon (ports "3000:3000", "10001:10001", URLs):
    # YAML 1.1 readers may take short "a:b" for base-60 numbers.
    style = '"' if ":" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _str)


def dump(document):
    return yaml.dump(
        document,
        Dumper=Dumper,
        sort_keys=True,
        default_flow_style=False,
        width=4096,
    )


def render_cluster(name, entry):
    """A Swarm stack (kind swarm) or Kubernetes manifests (kind k8s)."""
    what = "Docker Swarm stack" if entry["kind"] == "swarm" else "Kubernetes manifests"
    header = [
        f"# {name}: {what} of the {entry['topology']} network, rendered from the arion",
        f"#   module {entry['module']} ({entry['parameter']} = {entry['value']}) by nix/cluster.nix.",
    ]
    if entry["kind"] == "swarm":
        header.append(
            f"# Deploy: docker stack deploy -c {name} {entry['project']}   (or scripts/swarm-up.sh {entry['topology']})"
        )
        body = dump(entry["document"])
    else:
        header.append(f"# Apply: kubectl apply -f {name}   (namespace {entry['project']})")
        body = "---\n".join(dump(d) for d in entry["documents"])
    header += [
        "# Do not edit by hand. Regenerate: scripts/render-compose.sh",
        "# Verify: scripts/check-compose-rendered.sh",
    ]
    return "\n".join(header) + "\n" + body


def render_prometheus(name, entry):
    """A Prometheus scrape configuration (kind prometheus)."""
    header = [
        f"# {name}: Prometheus scrape configuration of the {entry['topology']} network,",
        f"#   rendered from the arion module {entry['module']} ({entry['parameter']} = {entry['value']})",
        "#   by nix/prometheus.nix: every node's /metrics through its published health port.",
        f"# Run (with the network up): prometheus --config.file={name}",
        "# Do not edit by hand. Regenerate: scripts/render-compose.sh",
        "# Verify: scripts/check-compose-rendered.sh (and promtool check config)",
    ]
    return "\n".join(header) + "\n" + dump(entry["document"])


def render(name, entry):
    kind = entry.get("kind", "compose")
    if kind == "text":
        return entry["text"]
    if kind == "prometheus":
        return render_prometheus(name, entry)
    if kind in ("swarm", "k8s"):
        return render_cluster(name, entry)
    header = [
        f"# {name}: {entry['topology']} network, rendered from the arion module",
        f"#   {entry['module']} ({entry['parameter']} = {entry['value']}).",
        f"# Project name: {entry['compose']['x-arion']['project']['name']} (Compose 1.29 has no top-level"
        " `name:`; pass it:",
        f"#   docker compose -p {entry['compose']['x-arion']['project']['name']} -f {name} up -d).",
        "# Do not edit by hand. Regenerate: scripts/render-compose.sh (or: nix run .#render)",
        "# Verify: scripts/check-compose-rendered.sh",
    ]
    body = yaml.dump(
        entry["compose"],
        Dumper=Dumper,
        sort_keys=True,
        default_flow_style=False,
        width=4096,
    )
    return "\n".join(header) + "\n" + body


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    files = json.load(sys.stdin)
    for name in sorted(files):
        path = os.path.join(outdir, name)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(render(name, files[name]))


if __name__ == "__main__":
    main()
