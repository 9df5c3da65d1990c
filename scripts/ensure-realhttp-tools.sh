#!/usr/bin/env bash
# Tools `make realhttp` uses from Debian: nginx and php-fpm, run from generated configs in a temp dir, never as
# system services. Installed when missing and we may use apt-get; otherwise the tests say what is missing.
set -u
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
ls /usr/sbin/php-fpm* >/dev/null 2>&1 || command -v php-fpm >/dev/null 2>&1 || need+=(php-fpm)
[ "${#need[@]}" -eq 0 ] || "$(dirname "$0")/apt-install.sh" "make realhttp" "${need[@]}"
exit 0
