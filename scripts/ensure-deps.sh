#!/usr/bin/env bash
# Install the system packages this project needs when they are missing (Debian/Ubuntu,
# as root). Usage: scripts/ensure-deps.sh [libev] [wrk] [perf] [redis] [curl] [openssl] [haproxy] [promtool] ...
set -euo pipefail
need=()
for what in "$@"; do
  case "$what" in
    libev) [ -f /usr/include/ev.h ] || need+=(libev-dev) ;;
    wrk) command -v wrk >/dev/null || need+=(wrk) ;;
    perf) command -v perf >/dev/null || need+=(linux-perf) ;;
    redis-server) command -v redis-server >/dev/null || need+=(redis-server) ;;
    redis) command -v redis-cli >/dev/null && command -v redis-benchmark >/dev/null || need+=(redis-tools) ;;
    curl) command -v curl >/dev/null || need+=(curl) ;;
    openssl) command -v openssl >/dev/null || need+=(openssl) ;;
    haproxy) command -v haproxy >/dev/null || need+=(haproxy) ;;
    promtool) command -v promtool >/dev/null || need+=(prometheus) ;;
    *) echo "ensure-deps: unknown dependency '$what'" >&2; exit 2 ;;
  esac
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
