#!/usr/bin/env bash
# Tools the test suite uses from Debian: redis-server (Redis-backed behaviour runs against a real server),
# php-cli (requests built by PHP's own http_build_query), ffmpeg (ffprobe plays encrypted HLS, catch-up and MAG
# links through the gateway; ffmpeg makes the media) and chromium (the status page, in a headless browser).
# Installed when missing and we may use apt-get; tests that need a missing tool skip with a reason, except in CI
# (CI=true), where they must run. promtool (Debian's prometheus) checks deploy/'s alert rules where it can be had;
# without it that one check skips, in CI too.
set -u
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v php >/dev/null 2>&1 || need+=(php-cli)
{ command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; } || need+=(ffmpeg)
{ command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } || need+=(chromium)
if [ "${#need[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${need[*]} for the test suite" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; } \
    || echo "warning: could not install ${need[*]}" >&2
fi
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # only its promtool is used (in a container nothing starts the server it also installs)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; } \
    || echo "note: no promtool (Debian's prometheus); the alert rules' promtool check will skip" >&2
fi
port=${PANELGATE_TEST_REDIS_PORT:-6379}
if command -v redis-cli >/dev/null 2>&1 && redis-cli -p "$port" ping >/dev/null 2>&1; then
  exit 0
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
