#!/usr/bin/env bash
# Builds the real Kubernetes components and tools that Capstan's local control plane, tests and
# renderers use, from the Go module proxy, at pinned versions, into a versioned cache outside the
# repository. A second run with the same versions reuses the cache. Two runs never build at once
# (flock on the cache's lock file). Prints progress on stderr and the binary folder on stdout.
#
# Environment:
#   CAPSTAN_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capstan)
#   CAPSTAN_GO          the go command to use (default: go on PATH)
# One tool alone (kustomize or helm, for a CI job that renders): scripts/build-tool.sh.
set -euo pipefail
case "${1:-}" in
  -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) printf 'build-binaries: error: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
esac

# ---- pinned versions (change here; the cache key follows) -------------------------------------
K8S_VERSION=v1.36.3        # k8s.io/kubernetes; staging modules at v0.36.3
ETCD_VERSION=v3.6.16       # go.etcd.io/etcd/server/v3
KWOK_VERSION=v0.8.0        # sigs.k8s.io/kwok
KUSTOMIZE_VERSION=v5.8.1   # sigs.k8s.io/kustomize/kustomize/v5
HELM_VERSION=v3.21.4       # helm.sh/helm/v3
JSONNET_VERSION=v0.22.0    # github.com/google/go-jsonnet (scripts/build-tool.sh only: not part of this set)
SCRIPT_REVISION=2          # bump when the way of building changes
GO_MIN_MINOR=26            # k8s v1.36 declares go 1.26.0

STAGING_MODULES=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client cri-streaming csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
  pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming)
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kustomize helm)

log() { printf '[build-binaries] %s\n' "$*" >&2; }
# The message only: the exit code goes to exit, never into the text.
fail() { printf 'build-binaries: error: %s\n' "$1" >&2; exit "${2:-1}"; }

cache_root=${CAPSTAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/capstan}
# The key names what is built, not the Go that built it: cached binaries serve a machine without Go.
key="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_kustomize-${KUSTOMIZE_VERSION}_helm-${HELM_VERSION}_r${SCRIPT_REVISION}"
bin_dir="$cache_root/bin/$key"
mkdir -p "$cache_root/bin"

complete() { [ -f "$bin_dir/.complete" ] && for b in "${BINARIES[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done; }
if complete; then echo "$bin_dir"; exit 0; fi

GO=${CAPSTAN_GO:-go}
command -v "$GO" >/dev/null 2>&1 || fail "no Go toolchain: '$GO' is not on PATH. Install Go 1.${GO_MIN_MINOR} or newer (https://go.dev/doc/install) and run again." 3
go_version=$("$GO" env GOVERSION 2>/dev/null) || fail "'$GO env GOVERSION' failed: is '$GO' a working Go toolchain?" 3
go_minor=$(printf '%s' "$go_version" | sed -nE 's/^go1\.([0-9]+).*/\1/p')
[ -n "$go_minor" ] && [ "$go_minor" -ge "$GO_MIN_MINOR" ] ||
  fail "Go 1.${GO_MIN_MINOR} or newer is needed to build Kubernetes ${K8S_VERSION}; found ${go_version}." 3

# One build at a time: wait for another run's lock, then check again.
exec 9>"$cache_root/bin/.lock"
if ! flock -n 9; then
  log "another build is running; waiting for it to finish"
  flock 9
fi
if complete; then echo "$bin_dir"; exit 0; fi

work=$(mktemp -d "$cache_root/bin/.work.XXXXXX")
staging="$cache_root/bin/.staging-$key"
rm -rf "$staging"; mkdir -p "$staging"
cleanup() { rm -rf "$work" "$staging"; }
trap cleanup EXIT

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOWORK=off
started=$(date +%s)
step() { log "$(printf '[%4ss] %s' "$(( $(date +%s) - started ))" "$*")"; }

# ---- Kubernetes: a wrapper module pointing each staging module at its published version --------
k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
staging_version="v0.${K8S_VERSION#v1.}"
mkdir -p "$work/k8s"
{
  echo "module capstan.dev/build/kubernetes"
  echo
  echo "go 1.${GO_MIN_MINOR}.0"
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  echo "replace ("
  for m in "${STAGING_MODULES[@]}"; do echo "	k8s.io/$m => k8s.io/$m $staging_version"; done
  echo ")"
} >"$work/k8s/go.mod"
cat >"$work/k8s/tools.go" <<GO
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=${K8S_VERSION} -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=${k8s_minor} -X $vpkg.gitCommit=module-${K8S_VERSION} -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=${build_date}"
step "resolving k8s.io/kubernetes ${K8S_VERSION} and its ${#STAGING_MODULES[@]} staging modules"
(cd "$work/k8s" && "$GO" mod tidy) || fail "resolving k8s.io/kubernetes ${K8S_VERSION} failed (see the go output above)" 4
step "compiling kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (the longest step: several minutes)"
(cd "$work/k8s" && "$GO" build -trimpath -ldflags "$ldflags" -o "$staging/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl) || fail "building Kubernetes ${K8S_VERSION} failed (see the go output above)" 4

# ---- etcd: its server module has replace lines, so build through a wrapper too ----------------
mkdir -p "$work/etcd"
printf 'module capstan.dev/build/etcd\n\ngo 1.%s.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$GO_MIN_MINOR" "$ETCD_VERSION" >"$work/etcd/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$work/etcd/tools.go"
step "building etcd ${ETCD_VERSION}"
(cd "$work/etcd" && "$GO" mod tidy && "$GO" build -trimpath -ldflags "-s -w" -o "$staging/etcd" go.etcd.io/etcd/server/v3) ||
  fail "building etcd ${ETCD_VERSION} failed (see the go output above)" 4

# ---- tools without replace lines: go install at the tag ----------------------------------------
install_tool() { # name module@version
  step "building $1 ${2##*@}"
  GOBIN="$staging" "$GO" install -trimpath -ldflags "-s -w" "$2" || fail "building $1 (${2}) failed (see the go output above)" 4
}
install_tool kwok "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
install_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
install_tool helm "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"

# kwok's stage definitions ship in its module (kustomize/stage): the "fast" node and pod stages that
# kwokctl uses by default, the node heartbeat with a Lease, and the opt-in chaos stages (by label).
step "copying kwok's stage definitions"
kwok_dir=$(cd "$work/etcd" && "$GO" mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
[ -n "$kwok_dir" ] && [ -d "$kwok_dir/kustomize/stage" ] || fail "cannot find kwok's stage definitions in sigs.k8s.io/kwok@${KWOK_VERSION}" 4
mkdir -p "$staging/kwok-stages"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml \
  pod/chaos/pod-container-running-failed.yaml node/chaos/node-not-ready.yaml; do
  cp "$kwok_dir/kustomize/stage/$f" "$staging/kwok-stages/" || fail "kwok stage $f is missing from sigs.k8s.io/kwok@${KWOK_VERSION}" 4
done
chmod -R u+w "$staging/kwok-stages"

for b in "${BINARIES[@]}"; do [ -x "$staging/$b" ] || fail "expected binary $b was not produced" 4; done
cat >"$staging/versions.txt" <<TXT
kubernetes ${K8S_VERSION}
etcd ${ETCD_VERSION}
kwok ${KWOK_VERSION}
kustomize ${KUSTOMIZE_VERSION}
helm ${HELM_VERSION}
go ${go_version}
built ${build_date} in $(( $(date +%s) - started ))s
TXT
touch "$staging/.complete"
rm -rf "$bin_dir"; mv "$staging" "$bin_dir"
# Older builds (other versions) are not used any more.
for old in "$cache_root"/bin/*/; do
  [ "${old%/}" = "$bin_dir" ] || { step "removing an older build: $(basename "$old")"; rm -rf "$old"; }
done
step "done: $(du -sh "$bin_dir" | cut -f1) in $bin_dir"
echo "$bin_dir"
