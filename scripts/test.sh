#!/usr/bin/env bash
# The whole test suite: static checks, unit, integration (real control plane, real git), e2e.
# Installs what it needs first (Debian packages, npm dependencies with Node.js 24, Kubernetes binaries).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-binaries.sh >/dev/null
exec npm test --silent -- "$@"
