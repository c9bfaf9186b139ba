#!/usr/bin/env python3
"""Structural check of rendered Kubernetes manifests (k8s/*.yaml).

Usage: check-k8s-refs.py FILE...

Per file (one network): exactly one Namespace and every object in it; per
Deployment or StatefulSet: one replica, a Service of the same name selecting
its pod labels; a node with DATA_DIR is a StatefulSet governed by that
Service whose volumeClaimTemplate (ReadWriteOnce, a storage request) is
mounted, writable, at DATA_DIR, in a pod whose fsGroup is its group; every ws://HOST:PORT in a BTP_PEER_<ID>_URL names a Service of the
namespace that exposes PORT; every *_SECRET_FILE points into a mounted
projected volume whose item comes from a Secret of the namespace that has
that key; no plain secret in the environment; the restricted
securityContext and resources are there. Exits 1 listing every problem.
"""
import re
import sys
from urllib.parse import urlparse

import yaml

URL_VAR = re.compile(r"^BTP_PEER_[A-Z0-9_]+_URL$")
FILE_VAR = re.compile(r"^(BTP_PEER_[A-Z0-9_]+_SECRET|RECEIVER_SECRET)_FILE$")
PLAIN_SECRET = re.compile(r"^(BTP_PEER_[A-Z0-9_]+_SECRET|RECEIVER_SECRET)$")


def container_ports(spec):
    return [p for c in spec["template"]["spec"]["containers"] for p in c.get("ports", [])]


def check_books(where, kind, spec, container, pod, data_dir, name):
    """A node with DATA_DIR keeps its books on a claim of its own there:
    (1 if so, else 0; the problems)."""
    problems = []
    if kind != "StatefulSet":
        return 0, [f"{where}: DATA_DIR={data_dir} but a {kind}: its books need a StatefulSet's claim"]
    if spec.get("serviceName") != name:
        problems.append(f"{where}: serviceName {spec.get('serviceName')!r}, expected the Service {name}")
    templates = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates", [])}
    mount = next((m for m in container.get("volumeMounts", []) if m["mountPath"] == data_dir), None)
    if mount is None:
        return 0, problems + [f"{where}: nothing is mounted at DATA_DIR={data_dir}"]
    template = templates.get(mount["name"])
    if template is None:
        return 0, problems + [f"{where}: {data_dir} mounts {mount['name']}, not a volumeClaimTemplate"]
    if mount.get("readOnly"):
        problems.append(f"{where}: the claim at {data_dir} is mounted read-only")
    claim = template["spec"]
    if claim.get("accessModes") != ["ReadWriteOnce"]:
        problems.append(f"{where}: claim {mount['name']} access modes {claim.get('accessModes')}, expected [ReadWriteOnce]")
    if not claim.get("resources", {}).get("requests", {}).get("storage"):
        problems.append(f"{where}: claim {mount['name']} requests no storage")
    security = pod.get("securityContext", {})
    if security.get("fsGroup") is None or security.get("fsGroup") != security.get("runAsGroup"):
        problems.append(f"{where}: fsGroup {security.get('fsGroup')} is not the pod's group: the claim is not writable")
    return (0 if problems else 1), problems


def check(path):
    problems = []
    docs = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    namespaces = list(by_kind.get("Namespace", {}))
    if len(namespaces) != 1:
        return [f"{path}: expected one Namespace, found {namespaces}"]
    ns = namespaces[0]
    for d in docs:
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != ns:
            problems.append(f"{d['kind']}/{d['metadata']['name']} is not in namespace {ns}")
    services = by_kind.get("Service", {})
    secrets = by_kind.get("Secret", {})
    workloads = {
        name: (kind, d)
        for kind in ("Deployment", "StatefulSet")
        for name, d in by_kind.get(kind, {}).items()
    }
    if not workloads:
        problems.append("no Deployment or StatefulSet")
    links = 0
    connectors = 0
    claims = 0
    for name, (kind, dep) in workloads.items():
        where = f"{kind}/{name}"
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        if spec.get("replicas") != 1:
            problems.append(f"{where}: replicas {spec.get('replicas')}, expected 1")
        svc = services.get(name)
        labels = spec["template"]["metadata"]["labels"]
        if svc is None:
            if labels.get("app.kubernetes.io/name") == "ilp-connector" or container_ports(spec):
                problems.append(f"{where}: no Service {name}")
        elif any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
            problems.append(f"Service/{name} does not select the pods of {where}")
        (container,) = pod["containers"]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        sc = container.get("securityContext", {})
        if not (
            sc.get("runAsNonRoot")
            and sc.get("readOnlyRootFilesystem")
            and sc.get("allowPrivilegeEscalation") is False
            and sc.get("capabilities", {}).get("drop") == ["ALL"]
        ):
            problems.append(f"{where}: securityContext is not restricted: {sc}")
        res = container.get("resources", {})
        if not (res.get("requests") and res.get("limits")):
            problems.append(f"{where}: no resource requests/limits")
        # Connector nodes; another service (a dashboard) only gets the
        # generic checks (securityContext, resources, references).
        if labels.get("app.kubernetes.io/name") == "ilp-connector":
            connectors += 1
            if not (container.get("livenessProbe") and container.get("readinessProbe")):
                problems.append(f"{where}: missing liveness/readiness probe")
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            if str(ports.get("btp")) != env.get("BTP_SERVER_PORT"):
                problems.append(f"{where}: container port btp {ports.get('btp')} != BTP_SERVER_PORT")
            if "DATA_DIR" in env:
                found, problem = check_books(where, kind, spec, container, pod, env["DATA_DIR"], name)
                claims += found
                problems += problem
        for var, value in env.items():
            if PLAIN_SECRET.match(var):
                problems.append(f"{where}: {var} puts a secret in the environment")
            if URL_VAR.match(var):
                links += 1
                u = urlparse(value)
                target = services.get(u.hostname)
                if target is None:
                    problems.append(f"{where}: {var}={value} names no Service of {ns}")
                elif u.port not in [p["port"] for p in target["spec"]["ports"]]:
                    problems.append(f"{where}: {var}={value}: Service {u.hostname} has no port {u.port}")
        # mounted secret files: path -> (secret, key)
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        files = {}
        for vol in pod.get("volumes", []):
            base = mounts.get(vol["name"])
            if base is None:
                continue
            for src in vol.get("projected", {}).get("sources", []):
                s = src.get("secret")
                for item in (s or {}).get("items", []):
                    files[f"{base.rstrip('/')}/{item['path']}"] = (s["name"], item["key"])
            if "secret" in vol:
                s = vol["secret"]
                for item in s.get("items", []):
                    files[f"{base.rstrip('/')}/{item['path']}"] = (s["secretName"], item["key"])
        for var, value in env.items():
            if not FILE_VAR.match(var):
                continue
            ref = files.get(value)
            if ref is None:
                problems.append(f"{where}: {var}={value} is not a mounted secret item")
                continue
            secret, key = ref
            obj = secrets.get(secret)
            if obj is None:
                problems.append(f"{where}: {var} reads Secret {secret}, which {ns} does not have")
            elif key not in obj.get("stringData", {}) and key not in obj.get("data", {}):
                problems.append(f"{where}: {var} reads key {key} of Secret {secret}, which it lacks")
    if links == 0:
        problems.append("no BTP_PEER_*_URL at all")
    if connectors == 0:
        problems.append("no ilp-connector Deployment or StatefulSet")
    kinds = {k: sum(1 for kk, _ in workloads.values() if kk == k) for k in ("Deployment", "StatefulSet")}
    print(
        f"{'OK  ' if not problems else 'FAIL'} {path}: namespace {ns}, {kinds['StatefulSet']} StatefulSets "
        f"({claims} with a claim at DATA_DIR), {kinds['Deployment']} Deployments, "
        f"{len(services)} Services, {len(secrets)} Secrets, {links} BTP URLs"
    )
    return problems


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    status = 0
    for path in sys.argv[1:]:
        for p in check(path):
            print(f"  {path}: {p}")
            status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
