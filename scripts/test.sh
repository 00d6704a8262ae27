#!/usr/bin/env bash
# The whole test suite: static checks, unit, integration (real control plane, real git), node (a
# real node that runs containers, a registry, BuildKit; needs root), e2e.
# Installs what it needs first (Debian packages, npm dependencies with Node.js 24, Kubernetes binaries,
# Gitea).
# Arguments go to scripts/test.ts: [--tier unit|integration|node|e2e] [--keep-cluster] [--no-checks].
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-node.sh # the node tier's Debian packages: runc, CNI plugins, registry, skopeo, mmdebstrap
bash scripts/build-binaries.sh >/dev/null
# Gitea for the commit status tests: once per machine (about 30 minutes cold, progress on stderr), then cached.
bash scripts/build-gitea.sh >/dev/null
exec npm test --silent -- "$@"
