"""How a NODE_ID appears inside BTP_PEER_<ID>_* variable names, for the
Python scripts and tests (scripts/bench.py, scripts/check-compose-routing.py,
tests/browser/test_dashboard.py). The binary's rule is config::env_name, the
renders' nix/lib.nix envId; scripts/check-compose-rendered.sh checks this one
and the Nix one, tests/docker.rs the binary's, against the examples of
docker/deployment.json (btpPeerEnvIds).
"""


def env_id(node_id: str) -> str:
    """The <ID> of peer `node_id`'s variables: in capitals, `-` as `_`."""
    return node_id.upper().replace("-", "_")
