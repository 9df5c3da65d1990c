#!/usr/bin/env bash
# Redis-backed tests need a real server on 127.0.0.1:6379. Start one if the binary exists and nothing answers;
# if neither is possible, the Redis tests skip with a reason (and CI, which sets CI=true, fails instead).
set -u
port=${PANELGATE_TEST_REDIS_PORT:-6379}
if command -v redis-cli >/dev/null 2>&1 && redis-cli -p "$port" ping >/dev/null 2>&1; then
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq redis-server >/dev/null 2>&1; }) || true
  fi
fi
if command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && exit 0
    sleep 0.1
  done
fi
echo "warning: no redis-server on 127.0.0.1:$port; Redis-backed tests will skip" >&2
exit 0
