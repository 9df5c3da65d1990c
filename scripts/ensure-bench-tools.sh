#!/usr/bin/env bash
# Tools `make bench` uses from Debian: wrk (load), nginx (the reference proxy, run from a generated config in a
# temp dir, never as the system service) and curl. Installed when missing and we may use apt-get; otherwise the
# benchmark says what is missing and stops.
set -u
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "${#need[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${need[*]} for the benchmarks" >&2
  # policy-rc.d 101: the package must not start the system nginx service
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; } \
    || echo "warning: could not install ${need[*]}" >&2
  [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
fi
exit 0
