#!/usr/bin/env bash
# Makes sure Redis and PostgreSQL server binaries are there for the shared response-store tests
# (tests/responses/test_store_servers.py starts its own servers on loopback; nothing runs as a
# service). Idempotent: binaries already present mean there is nothing to do. Otherwise it installs
# the Debian packages redis-server and postgresql with apt-get, as root or through passwordless sudo.
# Prints the two binaries' paths.
set -euo pipefail

log() { echo "[install_store_servers] $*" >&2; }

redis_bin() { command -v redis-server 2>/dev/null || { [[ -x /usr/bin/redis-server ]] && echo /usr/bin/redis-server; }; }
postgres_bin() { ls -1 /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1 | grep .; }

if r="$(redis_bin)" && p="$(postgres_bin)"; then
    echo "$r"; echo "$p"
    exit 0
fi

both() { redis_bin && postgres_bin; }
# shellcheck source=apt_install.sh
source "$(dirname "$0")/apt_install.sh"
apt_install install-store-servers both redis-server postgresql
# The tests start their own servers; the packages' services are not needed (and may not run here).
for svc in redis-server postgresql; do
    "${AS_ROOT[@]}" service "$svc" stop >/dev/null 2>&1 || true
done

r="$(redis_bin)" || { log "apt-get finished but no redis-server"; exit 1; }
p="$(postgres_bin)" || { log "apt-get finished but no postgres binary under /usr/lib/postgresql"; exit 1; }
echo "$r"; echo "$p"
