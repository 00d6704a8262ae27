#!/usr/bin/env bash
# Builds Gitea (a real git provider for the commit status tests, test/integration/commit-status-gitea.test.ts)
# from its Go module at a pinned version, into a versioned cache outside the repository, as
# scripts/build-binaries.sh does for Kubernetes: `go mod download` of the module, then `go build` inside
# it (so its own go.mod and replace directives apply), with the sqlite tags. The API needs no frontend
# assets; its templates and options (locales) are copied beside the binary. A second run with the same
# version reuses the cache; two runs never build at once (flock). Prints progress on stderr and the
# folder (gitea, options/, templates/) on stdout. A cold build takes about 30 minutes on 2 loaded cores.
#
# Environment:
#   CAPSTAN_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capstan)
#   CAPSTAN_GO          the go command to use (default: go on PATH)
set -euo pipefail
case "${1:-}" in
  -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) printf 'build-gitea: error: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
esac

GITEA_VERSION=v1.27.3   # code.gitea.io/gitea
SCRIPT_REVISION=1       # bump when the way of building changes
GO_MIN_MINOR=26         # its go.mod declares go 1.26

log() { printf '[build-gitea] %s\n' "$*" >&2; }
fail() { printf 'build-gitea: error: %s\n' "$1" >&2; exit "${2:-1}"; }

cache_root=${CAPSTAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/capstan}
key="gitea-${GITEA_VERSION}_r${SCRIPT_REVISION}"
dir="$cache_root/gitea/$key"
mkdir -p "$cache_root/gitea"
complete() { [ -f "$dir/.complete" ] && [ -x "$dir/gitea" ] && [ -d "$dir/options/locale" ] && [ -d "$dir/templates" ]; }
if complete; then echo "$dir"; exit 0; fi

GO=${CAPSTAN_GO:-go}
command -v "$GO" >/dev/null 2>&1 || fail "no Go toolchain: '$GO' is not on PATH. Install Go 1.${GO_MIN_MINOR} or newer and run again." 3
go_version=$("$GO" env GOVERSION 2>/dev/null) || fail "'$GO env GOVERSION' failed: is '$GO' a working Go toolchain?" 3
go_minor=$(printf '%s' "$go_version" | sed -nE 's/^go1\.([0-9]+).*/\1/p')
[ -n "$go_minor" ] && [ "$go_minor" -ge "$GO_MIN_MINOR" ] ||
  fail "Go 1.${GO_MIN_MINOR} or newer is needed to build Gitea ${GITEA_VERSION}; found ${go_version}." 3
command -v cc >/dev/null 2>&1 || fail "no C compiler (cc): Gitea's SQLite driver needs cgo (Debian: build-essential)" 3

exec 9>"$cache_root/gitea/.lock"
if ! flock -n 9; then
  log "another build is running; waiting for it to finish"
  flock 9
fi
if complete; then echo "$dir"; exit 0; fi

staging="$cache_root/gitea/.staging-$key"
rm -rf "$staging"; mkdir -p "$staging"
trap 'rm -rf "$staging"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOWORK=off CGO_ENABLED=1
started=$(date +%s)
step() { log "$(printf '[%4ss] %s' "$(( $(date +%s) - started ))" "$*")"; }

step "downloading code.gitea.io/gitea ${GITEA_VERSION}"
src=$(cd "$staging" && "$GO" mod download -json "code.gitea.io/gitea@${GITEA_VERSION}" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
[ -n "$src" ] && [ -f "$src/go.mod" ] || fail "cannot download code.gitea.io/gitea@${GITEA_VERSION} (see the go output above)" 4
step "compiling gitea with the sqlite tags (the longest step: tens of minutes on a loaded machine; dependencies are downloaded first)"
(cd "$src" && "$GO" build -trimpath -tags 'sqlite sqlite_unlock_notify' \
  -ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" -o "$staging/gitea" .) ||
  fail "building Gitea ${GITEA_VERSION} failed (see the go output above)" 4
step "copying its options (locales) and templates"
cp -r "$src/options" "$src/templates" "$staging/"
chmod -R u+w "$staging/options" "$staging/templates"
printf 'gitea %s\ngo %s\nbuilt %s in %ss\n' "$GITEA_VERSION" "$go_version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "$(( $(date +%s) - started ))" >"$staging/versions.txt"
touch "$staging/.complete"
rm -rf "$dir"; mv "$staging" "$dir"
for old in "$cache_root"/gitea/*/; do
  [ "${old%/}" = "$dir" ] || { step "removing an older build: $(basename "$old")"; rm -rf "$old"; }
done
step "done: $(du -sh "$dir" | cut -f1) in $dir"
echo "$dir"
