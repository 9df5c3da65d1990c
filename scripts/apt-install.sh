#!/usr/bin/env bash
# apt-install.sh PURPOSE PACKAGE...: install Debian packages for an opt-in make target (bench, realhttp) when we
# may use apt-get (root); otherwise do nothing, and the target says what is missing. Services the packages ship
# (nginx, php-fpm) are never started: the targets run them from generated configs in temp dirs.
set -u
purpose=$1
shift
if [ "$#" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing $* for $purpose" >&2
  # policy-rc.d 101: the packages must not start their system services
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; } \
    || echo "warning: could not install $*" >&2
  [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
fi
exit 0
