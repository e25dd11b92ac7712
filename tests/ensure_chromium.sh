#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (tests/admin_ui, marked `browser`).
# Called by `make test`; a no-op when /usr/bin/chromium already exists.
set -eu

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "amoerp: /usr/bin/chromium is missing and apt-get is not available; install Chromium to run the browser tests." >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" != "0" ]; then
  SUDO=(sudo -n)
fi
echo "amoerp: installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium
fi
test -x /usr/bin/chromium
echo "amoerp: $(/usr/bin/chromium --version 2>/dev/null || echo chromium installed)"
