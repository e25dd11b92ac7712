#!/usr/bin/env bash
# Run a command with a throwaway Redis (redis-server on a free port, no persistence, in a temp dir), stopped on
# exit. Its URL is exported as AMOERP_TEST_REDIS_URL (not REDIS_URL: the suite runs on PostgreSQL alone, and
# the tests that need Redis set REDIS_URL for themselves and their processes). Without redis-server the
# Redis tests are skipped — or, with CI=true, the run fails.
set -u

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "amoerp: redis-server is missing and CI=true: refusing to skip the Redis tests (run tests/ensure_redis.sh)." >&2
    exit 1
  fi
  echo "amoerp: no redis-server found; the Redis tests will be skipped (tests/ensure_redis.sh installs it)."
  exec "$@"
fi

REDISROOT=$(mktemp -d /tmp/amoerp-redis.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$REDISROOT" --save "" --appendonly no \
  --daemonize yes --pidfile "$REDISROOT/redis.pid" --logfile "$REDISROOT/redis.log" >/dev/null \
  || { cat "$REDISROOT/redis.log"; exit 1; }

cleanup() {
  if [ -f "$REDISROOT/redis.pid" ]; then
    pid=$(cat "$REDISROOT/redis.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done  # it removes its pid file on exit
  fi
  rm -rf "$REDISROOT"
}
trap cleanup EXIT INT TERM

for _ in $(seq 50); do
  redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
export AMOERP_TEST_REDIS_URL="redis://127.0.0.1:$PORT/0"
echo "amoerp: redis: $(redis-server --version | awk '{print $3}') on 127.0.0.1:$PORT (throwaway, in $REDISROOT)"
"$@"
exit $?
