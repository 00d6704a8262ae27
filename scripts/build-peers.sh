#!/usr/bin/env bash
# Builds the peers that Capstan is benchmarked against, from the Go module proxy, at pinned versions,
# into a versioned cache outside the repository (like scripts/build-binaries.sh):
#   flux    Flux's source-controller and kustomize-controller, and their CRDs
#   argocd  Argo CD's `argocd` binary (application-controller and repo-server are chosen by argv[0]:
#           the build adds symlinks of those names), and its CRDs
# Each peer is built through a wrapper module that requires the peer's module and repeats its
# non-local replace lines (the local ones point into the peer's repository, which a module zip does
# not carry: Flux's ./api is the published api module at the same version; for Argo CD's
# ./gitops-engine see ARGOCD_GITOPS_ENGINE below). docs/peers.md tells how each runs.
# A second run with the same versions reuses the cache; two runs never build at once (flock).
#
# Usage: scripts/build-peers.sh [flux] [argocd]     (default: both)
# Prints progress on stderr and, on stdout, one line per peer built: `<peer>=<folder>`.
# Exit codes: 0 every peer asked for is built; 2 usage; 3 no (or too old a) Go toolchain;
#             4 a build failed (the others were still built and printed; the error is in
#               <cache>/peers/<peer>-<key>.failed.log).
#
# Environment:
#   CAPSTAN_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capstan)
#   CAPSTAN_GO          the go command to use (default: go on PATH)
#   GOFLAGS             passed on (e.g. GOFLAGS=-p=1 on a busy machine); -buildvcs=false is added
set -euo pipefail

# ---- pinned versions (change here; the cache key follows) -------------------------------------
# Newest patch releases whose go directive Go 1.26 accepts (the 1.10 lines and Argo CD 3.6 need 1.27).
SOURCE_CONTROLLER_VERSION=v1.9.6      # github.com/fluxcd/source-controller (Flux 2.9), go 1.26.0
KUSTOMIZE_CONTROLLER_VERSION=v1.9.6   # github.com/fluxcd/kustomize-controller (Flux 2.9), go 1.26.0
ARGOCD_VERSION=v3.5.7                 # github.com/argoproj/argo-cd/v3, go 1.26.3
# Argo CD's go.mod replaces github.com/argoproj/argo-cd/gitops-engine with ./gitops-engine (a folder
# of its repository with its own go.mod, so not in the module zip) and the module has no tags. The
# newest pseudo-version the proxy serves stands in for it (see docs/peers.md).
ARGOCD_GITOPS_ENGINE=v0.0.0-20260914071520-c9c369efcc5b
# Module versions that a peer requires but the module proxy here does not serve (403 "not available"),
# replaced by the nearest served version of the same minor line (checked to compile and run).
SOURCE_CONTROLLER_SUBSTITUTES=(github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.0) # wants v0.18.3
FLUX_REVISION=1                       # bump when the way of building a peer changes (its cache key follows)
ARGOCD_REVISION=2
GO_MIN_MINOR=26
GO_MIN_PATCH_ARGOCD=3                 # argo-cd v3.5.7 declares go 1.26.3

log() { printf '[build-peers] %s\n' "$*" >&2; }
fail() { printf 'build-peers: error: %s\n' "$*" >&2; exit "${2:-1}"; }

peers=()
for a in "$@"; do
  case "$a" in
    flux | argocd) peers+=("$a") ;;
    -h | --help) sed -n '2,22p' "$0" | grep -v '^set ' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown peer '$a' (choose flux, argocd or both)" 2 ;;
  esac
done
[ ${#peers[@]} -gt 0 ] || peers=(flux argocd)

cache_root=${CAPSTAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/capstan}
peers_root="$cache_root/peers"
mkdir -p "$peers_root"

flux_key="flux-sc-${SOURCE_CONTROLLER_VERSION}_kc-${KUSTOMIZE_CONTROLLER_VERSION}_r${FLUX_REVISION}"
argocd_key="argocd-${ARGOCD_VERSION}_ge-${ARGOCD_GITOPS_ENGINE##*-}_r${ARGOCD_REVISION}"
flux_files=(source-controller kustomize-controller)
argocd_files=(argocd argocd-application-controller argocd-repo-server git-verify-wrapper.sh gpg-wrapper.sh)
key_of() { if [ "$1" = flux ]; then echo "$flux_key"; else echo "$argocd_key"; fi; }
complete() { # peer
  local dir files
  dir="$peers_root/$(key_of "$1")"
  if [ "$1" = flux ]; then files=("${flux_files[@]}"); else files=("${argocd_files[@]}"); fi
  [ -f "$dir/.complete" ] || return 1
  for f in "${files[@]}"; do [ -x "$dir/$f" ] || return 1; done
}

# Argo CD's components need a redis server at run time (bench/peers.ts starts one on loopback):
# Debian's redis-server package; its own service is not used.
ensure_redis() {
  command -v redis-server >/dev/null 2>&1 && return 0
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  log "installing Debian's redis-server (Argo CD needs a redis at run time)"
  { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends redis-server; } >&2 ||
    log "warning: could not install redis-server; Argo CD will not start without a redis"
}
for p in "${peers[@]}"; do [ "$p" = argocd ] && ensure_redis; done

todo=()
for p in "${peers[@]}"; do
  if complete "$p"; then echo "$p=$peers_root/$(key_of "$p")"; else todo+=("$p"); fi
done
[ ${#todo[@]} -gt 0 ] || exit 0

GO=${CAPSTAN_GO:-go}
command -v "$GO" >/dev/null 2>&1 || fail "no Go toolchain: '$GO' is not on PATH. Install Go 1.${GO_MIN_MINOR} or newer (https://go.dev/doc/install) and run again." 3
go_version=$("$GO" env GOVERSION 2>/dev/null) || fail "'$GO env GOVERSION' failed: is '$GO' a working Go toolchain?" 3
go_minor=$(printf '%s' "$go_version" | sed -nE 's/^go1\.([0-9]+).*/\1/p')
go_patch=$(printf '%s' "$go_version" | sed -nE 's/^go1\.[0-9]+\.([0-9]+).*/\1/p')
[ -n "$go_minor" ] && [ "$go_minor" -ge "$GO_MIN_MINOR" ] ||
  fail "Go 1.${GO_MIN_MINOR} or newer is needed to build the peers; found ${go_version}." 3

# One build at a time: wait for another run's lock, then check again.
exec 9>"$peers_root/.lock"
if ! flock -n 9; then
  log "another build of the peers is running; waiting for it to finish"
  flock 9
fi

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
# The compilers run at niceness 10, beside whatever else the machine does; a caller that is already
# niced (`nice -n 10 scripts/build-peers.sh`) is not niced further: 10 + 10 gave 19, at which a busy
# machine's other work left the build almost no CPU (source-controller alone took 47 minutes).
niced=()
[ "$(nice)" -lt 10 ] && niced=(nice -n "$((10 - $(nice)))")
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
started=$(date +%s)
step() { log "$(printf '[%4ss] %s' "$(( $(date +%s) - started ))" "$*")"; }
work=$(mktemp -d "$peers_root/.work.XXXXXX")
cleanup() { rm -rf "$work" "$peers_root"/.staging-*; }
trap cleanup EXIT

# Prints `old=new@version` for each replace line of a go.mod whose target is a module version
# (the local ones, `=> ./dir`, are left out), in the syntax of `go mod edit -replace`.
module_replaces() { # go.mod file
  sed 's://.*$::' "$1" | awk '
    /^replace[ \t]*\($/ { block = 1; next }
    block && /^\)/       { block = 0; next }
    block                { print; next }
    /^replace[ \t]/      { sub(/^replace[ \t]+/, ""); print }' |
    awk 'NF == 4 && $2 == "=>" { print $1 "=" $3 "@" $4 }
         NF == 5 && $3 == "=>" { print $1 "@" $2 "=" $4 "@" $5 }'
}

# Writes a wrapper module in $1 that requires module@version ($2 $3), repeats its non-local replace
# lines and adds the extra replaces given after. It is built with `go build -mod=mod PACKAGE`, which
# resolves only what the build needs: `go mod tidy` also wants the test dependencies of the peer's
# packages, and the proxy here does not serve all of them.
wrapper() { # dir module version [old=new@version...]
  local dir=$1 module=$2 version=$3 gomod r
  shift 3
  mkdir -p "$dir"
  gomod=$(cd "$dir" && "$GO" mod download -json "$module@$version" | sed -nE 's/^\s*"GoMod": "(.*)",?$/\1/p')
  [ -n "$gomod" ] && [ -f "$gomod" ] || { log "cannot download $module@$version"; return 1; }
  printf 'module capstan.dev/build/peers\n\ngo %s\n\nrequire %s %s\n' \
    "$(sed -nE 's/^go ([0-9.]+).*/\1/p' "$gomod")" "$module" "$version" >"$dir/go.mod"
  while read -r r; do
    [ -n "$r" ] && (cd "$dir" && "$GO" mod edit -replace "$r")
  done < <(module_replaces "$gomod"; for r in "$@"; do echo "$r"; done)
  return 0
}

module_dir() { # wrapper dir, module@version: its extracted folder in the module cache
  (cd "$1" && "$GO" mod download -json "$2" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')
}

copy_crds() { # from-folder to-folder
  mkdir -p "$2"
  local n=0 f
  for f in "$1"/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] && continue
    cp "$f" "$2/" && n=$((n + 1))
  done
  chmod -R u+w "$2"
  [ "$n" -gt 0 ]
}

build_flux() { # staging dir
  local out=$1 sc=github.com/fluxcd/source-controller kc=github.com/fluxcd/kustomize-controller t
  # Each controller through its own wrapper: their dependency graphs differ (kustomize-controller
  # pins kustomize's api/kyaml by replace), and one shared build list could change either.
  step "resolving source-controller ${SOURCE_CONTROLLER_VERSION}"
  wrapper "$work/sc" "$sc" "$SOURCE_CONTROLLER_VERSION" "${SOURCE_CONTROLLER_SUBSTITUTES[@]}" || return 1
  step "compiling source-controller"
  t=$(date +%s)
  # The flags of Flux's own Makefile (GO_STATIC_FLAGS).
  (cd "$work/sc" && "${niced[@]}" "$GO" build -mod=mod -trimpath -ldflags "-s -w" -tags 'netgo,osusergo,static_build' -o "$out/source-controller" "$sc") || return 1
  echo "source-controller $(( $(date +%s) - t ))s" >>"$out/.times"
  step "resolving kustomize-controller ${KUSTOMIZE_CONTROLLER_VERSION}"
  wrapper "$work/kc" "$kc" "$KUSTOMIZE_CONTROLLER_VERSION" || return 1
  step "compiling kustomize-controller"
  t=$(date +%s)
  (cd "$work/kc" && "${niced[@]}" "$GO" build -mod=mod -trimpath -ldflags "-s -w" -tags 'netgo,osusergo,static_build' -o "$out/kustomize-controller" "$kc") || return 1
  echo "kustomize-controller $(( $(date +%s) - t ))s" >>"$out/.times"
  step "copying the CRDs (config/crd/bases)"
  copy_crds "$(module_dir "$work/sc" "$sc@$SOURCE_CONTROLLER_VERSION")/config/crd/bases" "$out/crds" || return 1
  copy_crds "$(module_dir "$work/kc" "$kc@$KUSTOMIZE_CONTROLLER_VERSION")/config/crd/bases" "$out/crds" || return 1
  cat >"$out/versions.txt" <<TXT
source-controller ${SOURCE_CONTROLLER_VERSION}
kustomize-controller ${KUSTOMIZE_CONTROLLER_VERSION}
go ${go_version}
TXT
}

build_argocd() { # staging dir
  local out=$1 m=github.com/argoproj/argo-cd/v3 t ldflags vpkg
  [ "$go_minor" -gt "$GO_MIN_MINOR" ] || [ "${go_patch:-0}" -ge "$GO_MIN_PATCH_ARGOCD" ] || {
    log "Argo CD ${ARGOCD_VERSION} declares go 1.${GO_MIN_MINOR}.${GO_MIN_PATCH_ARGOCD}; found ${go_version}"
    return 1
  }
  step "resolving Argo CD ${ARGOCD_VERSION} (gitops-engine ${ARGOCD_GITOPS_ENGINE})"
  wrapper "$work/argocd" "$m" "$ARGOCD_VERSION" \
    "github.com/argoproj/argo-cd/gitops-engine=github.com/argoproj/argo-cd/gitops-engine@${ARGOCD_GITOPS_ENGINE}" || return 1
  step "compiling argocd (the longest step: several minutes)"
  t=$(date +%s)
  vpkg=$m/common
  ldflags="-s -w -X $vpkg.version=${ARGOCD_VERSION#v} -X $vpkg.gitTag=${ARGOCD_VERSION} -X $vpkg.gitCommit=module-${ARGOCD_VERSION} -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  (cd "$work/argocd" && "${niced[@]}" "$GO" build -mod=mod -trimpath -ldflags "$ldflags" -o "$out/argocd" "$m/cmd") || return 1
  echo "argocd $(( $(date +%s) - t ))s" >>"$out/.times"
  # cmd/main.go picks the component by the base name of argv[0] (or $ARGOCD_BINARY_NAME).
  ln -s argocd "$out/argocd-application-controller"
  ln -s argocd "$out/argocd-repo-server"
  step "copying the CRDs (manifests/crds) and the helper scripts the image puts on PATH"
  local dir
  dir=$(module_dir "$work/argocd" "$m@$ARGOCD_VERSION")
  copy_crds "$dir/manifests/crds" "$out/crds" || return 1
  # The repo-server runs git-verify-wrapper.sh (from PATH) on every checkout, GPG or not; without it
  # manifest generation fails with "permission denied". The Dockerfile copies these from hack/.
  for f in git-verify-wrapper.sh gpg-wrapper.sh; do
    install -m 0755 "$dir/hack/$f" "$out/$f" || return 1
  done
  cat >"$out/versions.txt" <<TXT
argo-cd ${ARGOCD_VERSION}
gitops-engine ${ARGOCD_GITOPS_ENGINE}
go ${go_version}
TXT
}

status=0
for p in "${todo[@]}"; do
  if complete "$p"; then echo "$p=$peers_root/$(key_of "$p")"; continue; fi # built while we waited
  key=$(key_of "$p")
  staging="$peers_root/.staging-$key"
  failed_log="$peers_root/$key.failed.log"
  rm -rf "$staging"; mkdir -p "$staging"
  t0=$(date +%s)
  if "build_$p" "$staging" 2> >(tee "$work/$p.log" >&2); then
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - t0 ))s" >>"$staging/versions.txt"
    touch "$staging/.complete"
    rm -rf "${peers_root:?}/$key" "$failed_log"
    mv "$staging" "$peers_root/$key"
    # Older builds of this peer (other versions) are not used any more.
    for old in "$peers_root/$p"-*/; do
      [ -d "$old" ] && [ "${old%/}" != "$peers_root/$key" ] && { step "removing an older build: $(basename "$old")"; rm -rf "$old"; }
    done
    step "$p done: $(du -sh "$peers_root/$key" | cut -f1) in $peers_root/$key"
    echo "$p=$peers_root/$key"
  else
    sleep 0.2 # let tee finish
    cp "$work/$p.log" "$failed_log" 2>/dev/null || true
    log "building $p failed; the output is in $failed_log"
    rm -rf "$staging"
    status=4
  fi
done
exit "$status"
