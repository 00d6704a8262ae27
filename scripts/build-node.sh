#!/usr/bin/env bash
# Builds what the dev cluster's real node runs, from the Go module proxy at pinned versions, into a
# versioned cache of its own (apart from scripts/build-binaries.sh's, which removes folders it does
# not know): kubelet and kube-proxy (the control plane's Kubernetes version), containerd 2 with its
# runc shim and ctr, and two programs of ours (scripts/node): the namespace forwarder and the pod
# sandbox ("pause") process. runc, the CNI plugins and iptables come from Debian's packages
# (scripts/setup-node.sh). A second run with the same inputs reuses the cache; two runs never build
# at once. Prints progress on stderr and the binary folder on stdout.
#
# Environment:
#   CAPSTAN_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capstan)
#   CAPSTAN_GO          the go command to use (default: go on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# ---- pinned versions (change here; the cache key follows) -------------------------------------
K8S_VERSION=v1.36.3          # must equal scripts/build-binaries.sh's
CONTAINERD_VERSION=v2.4.2    # github.com/containerd/containerd/v2
SCRIPT_REVISION=1            # bump when the way of building changes
GO_MIN_MINOR=26
BINARIES=(kubelet kube-proxy containerd containerd-shim-runc-v2 ctr capstan-node-forward capstan-pause)

log() { printf '[build-node] %s\n' "$*" >&2; }
fail() { printf 'build-node: error: %s\n' "$*" >&2; exit "${2:-1}"; }

cache_root=${CAPSTAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/capstan}
ours_hash=$(cd "$here/node" && cat go.mod forward/main.go pause/main.go | sha256sum | cut -c1-12)
key="k8s-${K8S_VERSION}_containerd-${CONTAINERD_VERSION}_ours-${ours_hash}_r${SCRIPT_REVISION}"
bin_dir="$cache_root/node/$key"
mkdir -p "$cache_root/node"

complete() { [ -f "$bin_dir/.complete" ] && for b in "${BINARIES[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done; }
if complete; then echo "$bin_dir"; exit 0; fi

GO=${CAPSTAN_GO:-go}
command -v "$GO" >/dev/null 2>&1 || fail "no Go toolchain: '$GO' is not on PATH. Install Go 1.${GO_MIN_MINOR} or newer and run again." 3
go_version=$("$GO" env GOVERSION 2>/dev/null) || fail "'$GO env GOVERSION' failed: is '$GO' a working Go toolchain?" 3
go_minor=$(printf '%s' "$go_version" | sed -nE 's/^go1\.([0-9]+).*/\1/p')
[ -n "$go_minor" ] && [ "$go_minor" -ge "$GO_MIN_MINOR" ] || fail "Go 1.${GO_MIN_MINOR} or newer is needed; found ${go_version}." 3

exec 9>"$cache_root/node/.lock"
if ! flock -n 9; then log "another build is running; waiting for it to finish"; flock 9; fi
if complete; then echo "$bin_dir"; exit 0; fi

work=$(mktemp -d "$cache_root/node/.work.XXXXXX")
staging="$cache_root/node/.staging-$key"
rm -rf "$staging"; mkdir -p "$staging"
trap 'rm -rf "$work" "$staging"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOWORK=off
started=$(date +%s)
step() { log "$(printf '[%4ss] %s' "$(( $(date +%s) - started ))" "$*")"; }

# ---- ours: seconds ------------------------------------------------------------------------------
step "building the namespace forwarder and the pause process (scripts/node)"
(cd "$here/node" && "$GO" build -trimpath -ldflags "-s -w" -o "$staging/capstan-node-forward" ./forward &&
  "$GO" build -trimpath -ldflags "-s -w" -o "$staging/capstan-pause" ./pause) || fail "building scripts/node failed (see the go output above)" 4

# ---- containerd 2: no replace lines, go install at the tag ---------------------------------------
step "building containerd ${CONTAINERD_VERSION}, its runc shim and ctr"
GOBIN="$staging" "$GO" install -trimpath -tags no_btrfs -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}" \
  "github.com/containerd/containerd/v2/cmd/containerd@${CONTAINERD_VERSION}" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@${CONTAINERD_VERSION}" \
  "github.com/containerd/containerd/v2/cmd/ctr@${CONTAINERD_VERSION}" || fail "building containerd ${CONTAINERD_VERSION} failed (see the go output above)" 4

# ---- kubelet and kube-proxy: the same wrapper module as the control plane ----------------------
STAGING_MODULES=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client cri-streaming csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
  pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming)
k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
staging_version="v0.${K8S_VERSION#v1.}"
mkdir -p "$work/k8s"
{
  printf 'module capstan.dev/build/kubernetes-node\n\ngo 1.%s.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$GO_MIN_MINOR" "$K8S_VERSION"
  for m in "${STAGING_MODULES[@]}"; do printf '\tk8s.io/%s => k8s.io/%s %s\n' "$m" "$m" "$staging_version"; done
  echo ")"
} >"$work/k8s/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kubelet"\n\t_ "k8s.io/kubernetes/cmd/kube-proxy"\n)\n' >"$work/k8s/tools.go"
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=${K8S_VERSION} -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=${k8s_minor} -X $vpkg.gitCommit=module-${K8S_VERSION} -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=${build_date}"
step "resolving k8s.io/kubernetes ${K8S_VERSION} for the node"
(cd "$work/k8s" && "$GO" mod tidy) || fail "resolving k8s.io/kubernetes ${K8S_VERSION} failed (see the go output above)" 4
step "compiling kubelet and kube-proxy"
(cd "$work/k8s" && "$GO" build -trimpath -ldflags "$ldflags" -o "$staging/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy) ||
  fail "building kubelet and kube-proxy ${K8S_VERSION} failed (see the go output above)" 4

for b in "${BINARIES[@]}"; do [ -x "$staging/$b" ] || fail "expected binary $b was not produced" 4; done
cat >"$staging/versions.txt" <<TXT
kubernetes ${K8S_VERSION}
containerd ${CONTAINERD_VERSION}
scripts/node ${ours_hash}
go ${go_version}
built ${build_date} in $(( $(date +%s) - started ))s
TXT
touch "$staging/.complete"
rm -rf "$bin_dir"; mv "$staging" "$bin_dir"
for old in "$cache_root"/node/*/; do
  [ "${old%/}" = "$bin_dir" ] || { step "removing an older node build: $(basename "$old")"; rm -rf "$old"; }
done
step "done: $(du -sh "$bin_dir" | cut -f1) in $bin_dir"
echo "$bin_dir"
