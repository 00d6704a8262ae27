#!/usr/bin/env bash
# The main job: a real local Kubernetes control plane on loopback (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok nodes; built from Go modules on first use), a git
# server holding the demo configuration, the Capstan agent, and sample applications left Synced and
# Healthy. Prints where to look. Stop it with: npm run capstan -- demo down
# Arguments go to `capstan demo up` (see npm run capstan -- demo up --help).
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npm run --silent capstan -- demo up "$@"
