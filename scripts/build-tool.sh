#!/usr/bin/env bash
# Finds or builds ONE rendering tool (kustomize, helm or jsonnet) at the version scripts/build-binaries.sh pins,
# without the Kubernetes control plane: for a CI job that renders, diffs or syncs and has no such tool.
# `confine` is the Landlock launcher of the render sandbox, capstan-confine, built from scripts/confine
# (no dependencies; its version is a digest of its sources).
#
#   bash scripts/build-tool.sh kustomize|helm|jsonnet|confine     prints the tool's path on stdout
#   bash scripts/build-tool.sh --help
#
# Where it looks, in order: the control-plane set already built by scripts/build-binaries.sh (its
# folder is only read, never changed), then this script's own cache, CACHE/tools/NAME-VERSION/PROGRAM;
# only when both lack it, it builds the tool there from the Go module proxy (Go needed; progress on
# stderr; flock against a parallel build of the same tool).
#
# Environment:
#   CAPSTAN_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capstan)
#   CAPSTAN_GO          the go command to use (default: go on PATH)
# Exit codes: 0 the path was printed, 2 usage, 3 no Go toolchain to build with, 4 the build failed.
set -euo pipefail

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}
log() { printf '[build-tool] %s\n' "$1" >&2; }
# The message only: the exit code goes to exit, never into the text.
fail() {
  printf 'build-tool: error: %s\n' "$1" >&2
  exit "${2:-4}"
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  kustomize) module_path=sigs.k8s.io/kustomize/kustomize/v5; version_var=KUSTOMIZE_VERSION; program=kustomize ;;
  helm) module_path=helm.sh/helm/v3/cmd/helm; version_var=HELM_VERSION; program=helm ;;
  jsonnet) module_path=github.com/google/go-jsonnet/cmd/jsonnet; version_var=JSONNET_VERSION; program=jsonnet ;;
  confine) module_path=; version_var=; program=capstan-confine ;;
  '') usage >&2; exit 2 ;;
  *) printf 'build-tool: error: unknown tool %s: kustomize, helm, jsonnet or confine\n' "$1" >&2; exit 2 ;;
esac
name=$1
source_dir="$(cd "$(dirname "$0")" && pwd)/confine"

if [ -n "$version_var" ]; then
  # The one place the versions are pinned is scripts/build-binaries.sh.
  pins="$(dirname "$0")/build-binaries.sh"
  version=$(sed -nE "s/^${version_var}=([^ ]+).*/\\1/p" "$pins")
  [ -n "$version" ] || fail "cannot read ${version_var} from ${pins}" 4
else
  # Built from this repository: a change to its sources is a new version.
  version=$(cat "$source_dir"/go.mod "$source_dir"/*.go | sha256sum | cut -c1-16)
fi

cache_root=${CAPSTAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/capstan}

# 1. The control-plane set, when complete and of the same version of this tool.
for dir in "$cache_root"/bin/*"_${name}-${version}_"*/; do
  if [ -f "$dir.complete" ] && [ -x "$dir$program" ]; then
    echo "${dir}${program}"
    exit 0
  fi
done

# 2. This script's cache.
tool_dir="$cache_root/tools/${name}-${version}"
if [ -f "$tool_dir/.complete" ] && [ -x "$tool_dir/$program" ]; then
  echo "$tool_dir/$program"
  exit 0
fi

# 3. Build it, alone.
GO=${CAPSTAN_GO:-go}
command -v "$GO" >/dev/null 2>&1 ||
  fail "${name} ${version} is not installed and there is no Go toolchain to build it ('${GO}' is not on PATH): put ${program} on PATH, set CAPSTAN_$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]') to its path, or install Go (https://go.dev/doc/install)" 3
mkdir -p "$cache_root/tools"
exec 9>"$cache_root/tools/.lock-${name}"
if ! flock -n 9; then
  log "another build of ${name} is running; waiting for it to finish"
  flock 9
fi
if [ -f "$tool_dir/.complete" ] && [ -x "$tool_dir/$program" ]; then
  echo "$tool_dir/$program"
  exit 0
fi
staging=$(mktemp -d "$cache_root/tools/.staging-${name}.XXXXXX")
trap 'rm -rf "$staging"' EXIT
if [ -n "$module_path" ]; then
  log "building ${name} ${version} from Go modules into ${tool_dir} (only this tool, once; a minute or two)"
else
  log "building ${program} (sources ${version}) from ${source_dir} into ${tool_dir} (seconds)"
fi
started=$(date +%s)
if [ -n "$module_path" ]; then
  GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOWORK=off GOBIN="$staging" \
    "$GO" install -trimpath -ldflags "-s -w" "${module_path}@${version}" ||
    fail "building ${name} (${module_path}@${version}) failed (see the go output above)" 4
else
  (cd "$source_dir" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOWORK=off \
    "$GO" build -trimpath -ldflags "-s -w" -o "$staging/$program" .) ||
    fail "building ${program} from ${source_dir} failed (see the go output above)" 4
fi
[ -x "$staging/$program" ] || fail "the build did not produce ${program}" 4
touch "$staging/.complete"
rm -rf "$tool_dir"
mv "$staging" "$tool_dir"
log "built ${name} ${version} in $(($(date +%s) - started))s"
echo "$tool_dir/$program"
