#!/usr/bin/env bash
# Make sure Debian's redis-server is installed for the Redis tests (tests/production, AMOERP_TEST_REDIS_URL).
# Called by `make test`; a no-op when /usr/bin/redis-server already exists.
set -eu

if [ -x /usr/bin/redis-server ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "amoerp: /usr/bin/redis-server is missing and apt-get is not available; install redis-server to run the Redis tests." >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" != "0" ]; then
  SUDO=(sudo -n)
fi
echo "amoerp: installing Debian's redis-server for the Redis tests"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1; then
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends redis-server
fi
test -x /usr/bin/redis-server
echo "amoerp: $(/usr/bin/redis-server --version 2>/dev/null || echo redis-server installed)"
