#!/usr/bin/env bash
# Builds CoreDNS, the real node's cluster DNS, from the Go module proxy at a pinned version into a
# versioned cache of its own (github.com/coredns/coredns has no replace or exclude directives, so
# `go install module@version` builds it with the module's own go.sum). A second run reuses the cache;
# two runs never build at once. Prints progress on stderr and the binary folder on stdout.
#
# Environment:
#   CAPSTAN_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capstan)
#   CAPSTAN_GO          the go command to use (default: go on PATH)
set -euo pipefail

COREDNS_VERSION=v1.14.7
SCRIPT_REVISION=1
GO_MIN="1.25.0"   # CoreDNS v1.14.7 declares go 1.25.0
BINARIES=(coredns)

log() { printf '[build-coredns] %s\n' "$*" >&2; }
fail() { printf 'build-coredns: error: %s\n' "$*" >&2; exit "${2:-1}"; }

cache_root=${CAPSTAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/capstan}
key="coredns-${COREDNS_VERSION}_r${SCRIPT_REVISION}"
bin_dir="$cache_root/coredns/$key"
mkdir -p "$cache_root/coredns"
complete() { [ -f "$bin_dir/.complete" ] && for b in "${BINARIES[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done; }
if complete; then echo "$bin_dir"; exit 0; fi

GO=${CAPSTAN_GO:-go}
command -v "$GO" >/dev/null 2>&1 || fail "no Go toolchain: '$GO' is not on PATH. Install Go ${GO_MIN} or newer and run again." 3

exec 9>"$cache_root/coredns/.lock"
if ! flock -n 9; then log "another build is running; waiting for it to finish"; flock 9; fi
if complete; then echo "$bin_dir"; exit 0; fi

staging="$cache_root/coredns/.staging-$key"
rm -rf "$staging"; mkdir -p "$staging"
trap 'rm -rf "$staging"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOWORK=off
started=$(date +%s)
step() { log "$(printf '[%4ss] %s' "$(( $(date +%s) - started ))" "$*")"; }

step "compiling github.com/coredns/coredns ${COREDNS_VERSION}"
GOBIN="$staging" "$GO" install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@${COREDNS_VERSION}" ||
  fail "building CoreDNS ${COREDNS_VERSION} failed (see the go output above)" 4
for b in "${BINARIES[@]}"; do [ -x "$staging/$b" ] || fail "expected binary $b was not produced" 4; done
printf 'coredns %s\ngo %s\nbuilt in %ss\n' "$COREDNS_VERSION" "$("$GO" env GOVERSION)" "$(( $(date +%s) - started ))" >"$staging/versions.txt"
touch "$staging/.complete"
rm -rf "$bin_dir"; mv "$staging" "$bin_dir"
for old in "$cache_root"/coredns/*/; do
  [ "${old%/}" = "$bin_dir" ] || { step "removing an older CoreDNS build: $(basename "$old")"; rm -rf "$old"; }
done
step "done: $(du -sh "$bin_dir" | cut -f1) in $bin_dir"
echo "$bin_dir"
