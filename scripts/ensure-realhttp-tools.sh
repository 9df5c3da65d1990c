#!/usr/bin/env bash
# Tools `make realhttp` uses from Debian: nginx and php-fpm, run from generated configs in a temp dir, never as
# system services. Installed when missing and we may use apt-get; otherwise the tests say what is missing.
set -u
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
ls /usr/sbin/php-fpm* >/dev/null 2>&1 || command -v php-fpm >/dev/null 2>&1 || need+=(php-fpm)
if [ "${#need[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${need[*]} for make realhttp" >&2
  # policy-rc.d 101: the packages must not start their system services
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; } \
    || echo "warning: could not install ${need[*]}" >&2
  [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
fi
exit 0
