#!/usr/bin/env bash
# Builds BuildKit (buildkitd and buildctl) from the Go module proxy at a pinned version into a versioned
# cache of its own. BuildKit's go.mod has `exclude` directives, so `go install module@version` is
# refused: a wrapper module requires it and repeats the excludes. A second run reuses the cache; two
# runs never build at once. Prints progress on stderr and the binary folder on stdout.
#
# Environment:
#   CAPSTAN_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capstan)
#   CAPSTAN_GO          the go command to use (default: go on PATH)
set -euo pipefail

BUILDKIT_VERSION=v0.34.2
SCRIPT_REVISION=1
GO_MIN="1.26.8"   # BuildKit v0.34.2 declares go 1.26.8
BINARIES=(buildkitd buildctl)

log() { printf '[build-buildkit] %s\n' "$*" >&2; }
fail() { printf 'build-buildkit: error: %s\n' "$*" >&2; exit "${2:-1}"; }

cache_root=${CAPSTAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/capstan}
key="buildkit-${BUILDKIT_VERSION}_r${SCRIPT_REVISION}"
bin_dir="$cache_root/buildkit/$key"
mkdir -p "$cache_root/buildkit"
complete() { [ -f "$bin_dir/.complete" ] && for b in "${BINARIES[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done; }
if complete; then echo "$bin_dir"; exit 0; fi

GO=${CAPSTAN_GO:-go}
command -v "$GO" >/dev/null 2>&1 || fail "no Go toolchain: '$GO' is not on PATH. Install Go ${GO_MIN} or newer and run again." 3

exec 9>"$cache_root/buildkit/.lock"
if ! flock -n 9; then log "another build is running; waiting for it to finish"; flock 9; fi
if complete; then echo "$bin_dir"; exit 0; fi

work=$(mktemp -d "$cache_root/buildkit/.work.XXXXXX")
staging="$cache_root/buildkit/.staging-$key"
rm -rf "$staging"; mkdir -p "$staging"
trap 'rm -rf "$work" "$staging"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOWORK=off
started=$(date +%s)
step() { log "$(printf '[%4ss] %s' "$(( $(date +%s) - started ))" "$*")"; }

mod_dir=$(cd "$work" && "$GO" mod download -json "github.com/moby/buildkit@${BUILDKIT_VERSION}" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
[ -n "$mod_dir" ] && [ -f "$mod_dir/go.mod" ] || fail "cannot download github.com/moby/buildkit@${BUILDKIT_VERSION}" 4
{
  printf 'module capstan.dev/build/buildkit\n\ngo %s\n\nrequire github.com/moby/buildkit %s\n\n' "$GO_MIN" "$BUILDKIT_VERSION"
  grep -E '^exclude [^(]' "$mod_dir/go.mod" || true
  sed -n '/^exclude (/,/^)/p' "$mod_dir/go.mod"
} >"$work/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/moby/buildkit/cmd/buildkitd"\n\t_ "github.com/moby/buildkit/cmd/buildctl"\n)\n' >"$work/tools.go"
step "resolving github.com/moby/buildkit ${BUILDKIT_VERSION}"
(cd "$work" && "$GO" mod tidy) || fail "resolving BuildKit ${BUILDKIT_VERSION} failed (see the go output above)" 4
step "compiling buildkitd and buildctl"
(cd "$work" && "$GO" build -trimpath -ldflags "-s -w -X github.com/moby/buildkit/version.Version=${BUILDKIT_VERSION}" -o "$staging/" \
  github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl) || fail "building BuildKit ${BUILDKIT_VERSION} failed (see the go output above)" 4
for b in "${BINARIES[@]}"; do [ -x "$staging/$b" ] || fail "expected binary $b was not produced" 4; done
printf 'buildkit %s\ngo %s\nbuilt in %ss\n' "$BUILDKIT_VERSION" "$("$GO" env GOVERSION)" "$(( $(date +%s) - started ))" >"$staging/versions.txt"
touch "$staging/.complete"
rm -rf "$bin_dir"; mv "$staging" "$bin_dir"
step "done: $(du -sh "$bin_dir" | cut -f1) in $bin_dir"
echo "$bin_dir"
