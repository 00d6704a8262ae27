#!/usr/bin/env bash
# The main job: a real local Kubernetes control plane on loopback (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok nodes; built from Go modules on first use), a git
# server holding the demo configuration, the Capstan agent, and sample applications left Synced and
# Healthy. Prints where to look. Stop it with: npm run capstan -- demo down
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npm run --silent capstan -- demo up "$@"
