#!/usr/bin/env bash
# Installs what Capstan's commands need on this machine, and nothing twice:
#  - Debian packages (git, openssl, util-linux for flock, bubblewrap for the render sandbox, ca-certificates,
#    python3-venv for schemathesis in the tests, postgresql for the tests of the PostgreSQL Store, gcc for
#    the cgo build of Gitea in scripts/build-gitea.sh) when
#    missing and we are root;
#  - the npm dependencies, which pin Node.js 24 for every npm script and npx (npm ci when the lock changed).
#  - capstan-confine, the Landlock render sandbox for hosts without user namespaces (scripts/build-tool.sh confine), when Go is here.
# Go is needed to build the Kubernetes binaries; scripts/build-binaries.sh says so clearly when it is missing.
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap) # the render sandbox (src/adapters/render/sandbox.ts)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
# schemathesis (scripts/setup-schemathesis.sh, the API tester of the integration tier) runs in a Python venv.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3 python3-venv)
# The PostgreSQL Store's tests start a throw-away server of their own (src/testing/postgres.ts); the
# package's own cluster is not used.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# Gitea, the real git provider of the commit status tests, is built with cgo (its SQLite driver):
# scripts/build-gitea.sh.
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: error: missing programs (${need[*]}); install them with your package manager and run again" >&2
    exit 3
  fi
fi

command -v npm >/dev/null 2>&1 || { echo "setup: error: npm is not installed; install Node.js (any version from 20 on) and run again" >&2; exit 3; }
stamp=node_modules/.capstan-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x node_modules/.bin/node ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
node_version=$(npx --no-install node --version)
case "$node_version" in
  v24.*) ;;
  *) echo "setup: error: npm scripts run Node.js $node_version, expected v24 (the node package in devDependencies)" >&2; exit 3 ;;
esac
bash scripts/build-ui.sh # the web UI served by capstan server, when missing or stale
# The Landlock sandbox's launcher (seconds, standard library only); without Go, the renders that need
# it say how to get it.
if command -v "${CAPSTAN_GO:-go}" >/dev/null 2>&1; then
  bash scripts/build-tool.sh confine >/dev/null
else
  log "no Go: capstan-confine (the Landlock render sandbox) is not built; bubblewrap is used where it works"
fi
