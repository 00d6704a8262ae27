#!/usr/bin/env bash
# Installs the browser the e2e tier drives: Debian's chromium package (headless, driven by playwright-core
# over CDP). Nothing is downloaded by playwright itself. Prints the browser's path.
# Override with CAPSTAN_CHROMIUM=/path/to/chromium to use another build.
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

if [ -n "${CAPSTAN_CHROMIUM:-}" ]; then echo "$CAPSTAN_CHROMIUM"; exit 0; fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    printf '[setup-browser] installing Debian packages: chromium fonts-liberation\n' >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  else
    echo "setup-browser: error: chromium is not installed; install Debian's chromium package (as root: apt-get install chromium) or set CAPSTAN_CHROMIUM" >&2
    exit 3
  fi
fi
command -v chromium
