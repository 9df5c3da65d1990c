#!/usr/bin/env bash
# Tools `make bench` uses from Debian: wrk (load), nginx (the reference proxy, run from a generated config in a
# temp dir, never as the system service), curl, and valgrind (instructions per request, section 10). Installed when missing and we may use apt-get; otherwise the
# benchmark says what is missing and stops.
set -u
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
[ "${#need[@]}" -eq 0 ] || "$(dirname "$0")/apt-install.sh" "the benchmarks" "${need[@]}"
exit 0
