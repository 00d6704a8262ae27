#!/usr/bin/env bash
# Installs the Debian packages that the dev cluster's real node (`capstan dev-cluster up --real-node`)
# uses, when missing; the node's Go programs are built by scripts/build-node.sh on first use.
#  - runc: the OCI runtime behind containerd's runc shim;
#  - containernetworking-plugins: the CNI plugins bridge, host-local, loopback, portmap;
#  - iptables (nf_tables backend): kube-proxy's Service rules, inside the node's namespace only;
#  - conntrack: kube-proxy clears stale UDP entries with it;
#  - busybox-static: the static binary the test image is made of;
#  - docker-registry, skopeo, apache2-utils (htpasswd): the local image registry and its tools;
#  - mmdebstrap: base images made from Debian packages (the machine's configured Debian sources).
set -euo pipefail
log() { printf '[setup-node] %s\n' "$*" >&2; }

packages=(runc containernetworking-plugins iptables conntrack busybox-static docker-registry skopeo apache2-utils mmdebstrap)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then log "all packages present"; exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-node: error: missing Debian packages (${missing[*]}); install them as root with apt-get and run again" >&2
  exit 3
fi
log "installing Debian packages: ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
