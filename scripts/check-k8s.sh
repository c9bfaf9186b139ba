#!/usr/bin/env bash
# Validate the committed Kubernetes manifests (k8s/*.yaml) offline:
#   1. kubernetes-validate --strict (PyPI; the Kubernetes OpenAPI schemas it
#      ships, no cluster needed), installed into a venv under target/;
#   2. scripts/check-k8s-refs.py: every BTP URL names a Service of the same
#      namespace with that port, every secret file a pod reads is a key of a
#      Secret of the namespace mounted into that pod.
# Usage: scripts/check-k8s.sh [FILE...]   (default: k8s/*.yaml)
# KUBERNETES_VERSION picks the schema version (default below).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${ILP_K8S_VENV:-$root/target/k8s-venv}
version=${KUBERNETES_VERSION:-1.30.0}
validate_pin='kubernetes-validate==1.37.0'

if [ "$#" -eq 0 ]; then
  set -- "$root"/k8s/*.yaml
fi

if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "installing $validate_pin into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "$validate_pin" pyyaml
fi

"$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" "$@"
echo "OK: kubernetes-validate --strict (Kubernetes $version schemas): $#"" files"
"$venv/bin/python" "$root/scripts/check-k8s-refs.py" "$@"
