#!/usr/bin/env bash
# Installs schemathesis (the property-based API tester, from PyPI) into its own Python venv in the
# versioned tool cache, outside the repository, and prints the path of its `st` command. Idempotent:
# a finished install (marked by .complete) is reused. Needs python3 with venv (Debian: python3-venv).
#   CAPSTAN_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/capstan)
set -euo pipefail

version=4.32.5
cache_root=${CAPSTAN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/capstan}
dir="$cache_root/tools/schemathesis-$version"

if [[ -f "$dir/.complete" ]]; then
  echo "$dir/venv/bin/st"
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup-schemathesis: python3 with venv is needed (Debian: apt-get install -y python3-venv)" >&2
  exit 1
fi
rm -rf "$dir"
mkdir -p "$dir"
python3 -m venv "$dir/venv" >&2
"$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version" >&2
"$dir/venv/bin/st" --version >&2
touch "$dir/.complete"
echo "$dir/venv/bin/st"
