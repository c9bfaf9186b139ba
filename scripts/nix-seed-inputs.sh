#!/usr/bin/env bash
# Put the flake's locked GitHub inputs into the Nix store from local git
# checkouts, for a machine that cannot reach GitHub (Nix then finds each
# input by its narHash and downloads nothing).
#
# Usage: scripts/nix-seed-inputs.sh [INPUT...]   (default: every github input in flake.lock)
#
# For each input it looks for a git repository holding the locked rev under
# ILP_NIX_INPUTS_DIR (default /work/.mirror), as <owner>+<repo>/repo,
# <owner>+<repo>, <owner>/<repo> or <repo> (bare or not), exports that rev with
# `git archive` into a temporary folder, compares `nix hash path` with the
# lock's narHash, and only on a match runs `nix store add-path --name source`.
# Prints one line per input: SEEDED (added, or already there: adding is
# idempotent), UNAVAILABLE (no checkout with that rev here: nothing added) or MISMATCH
# (exit 1). Exit 0 when nothing mismatched; the checks that need an input
# say SKIPPED themselves when it is unavailable.
# Uses scripts/nix.sh (Nix 2.26) unless NIX is set to another nix command.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
read -r -a nix <<<"${NIX:-$root/scripts/nix.sh}"
inputs_dir=${ILP_NIX_INPUTS_DIR:-/work/.mirror}

mapfile -t locked < <(python3 - "$root/flake.lock" "$@" <<'PY'
import json, sys
lock = json.load(open(sys.argv[1]))
want = set(sys.argv[2:])
for name, node in sorted(lock["nodes"].items()):
    l = node.get("locked")
    if not l or l.get("type") != "github" or (want and name not in want):
        continue
    print("\t".join([name, l["owner"], l["repo"], l["rev"], l["narHash"]]))
PY
)

status=0
for line in "${locked[@]}"; do
  IFS=$'\t' read -r name owner repo rev nar <<<"$line"
  gitdir=''
  for cand in "$inputs_dir/$owner+$repo/repo" "$inputs_dir/$owner+$repo" "$inputs_dir/$owner/$repo" "$inputs_dir/$repo"; do
    if [ -d "$cand" ] && git -C "$cand" cat-file -e "$rev^{commit}" 2>/dev/null; then
      gitdir=$cand
      break
    fi
  done
  if [ -z "$gitdir" ]; then
    echo "UNAVAILABLE $name $owner/$repo@${rev:0:12}: no git checkout with that rev under $inputs_dir"
    continue
  fi
  tmp=$(mktemp -d)
  git -C "$gitdir" archive --format=tar "$rev" | tar -x -C "$tmp"
  got=$("${nix[@]}" hash path "$tmp")
  if [ "$got" != "$nar" ]; then
    echo "MISMATCH    $name $owner/$repo@${rev:0:12}: nix hash path = $got, flake.lock narHash = $nar"
    status=1
  else
    stored=$("${nix[@]}" store add-path --name source "$tmp")
    echo "SEEDED      $name $owner/$repo@${rev:0:12} $stored (narHash matches the lock)"
  fi
  rm -rf "$tmp"
done
exit "$status"
