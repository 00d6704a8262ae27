#!/usr/bin/env bash
# Builds the web UI (ui/ → ui/dist, served by `capstan server`) when it is missing or older than its
# sources: ui/ itself, the shared contracts it imports, and the npm lock. scripts/setup.sh calls it, so
# no user step is needed; `npm run build:ui` builds it unconditionally.
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."

stamp=ui/dist/.capstan-sources-hash
want=$(find ui src/contracts -path ui/dist -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum | cat - package-lock.json | sha256sum | cut -d' ' -f1)
if [ -f ui/dist/index.html ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
printf '[build-ui] building the web UI (ui/dist)\n' >&2
npx --no-install vite build ui --logLevel warn
echo "$want" >"$stamp"
