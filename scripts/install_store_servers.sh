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

if ! command -v apt-get >/dev/null 2>&1; then
    log "no redis-server/postgres and no apt-get: install Redis and PostgreSQL server binaries"
    exit 1
fi

AS_ROOT=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        AS_ROOT=(sudo -n)
    else
        log "installing the Debian packages needs root (or passwordless sudo)"
        exit 1
    fi
fi

# Two runs on one machine must not race on dpkg; the second waits, then finds the binaries.
LOCK="${TMPDIR:-/tmp}/toolrelay-install-store-servers.lock"
exec 9>"$LOCK"
flock 9
if r="$(redis_bin)" && p="$(postgres_bin)"; then
    echo "$r"; echo "$p"
    exit 0
fi

log "installing the Debian packages redis-server and postgresql"
export DEBIAN_FRONTEND=noninteractive
"${AS_ROOT[@]}" apt-get update -qq
"${AS_ROOT[@]}" apt-get install -y -qq --no-install-recommends redis-server postgresql >&2
# The tests start their own servers; the packages' services are not needed (and may not run here).
for svc in redis-server postgresql; do
    "${AS_ROOT[@]}" service "$svc" stop >/dev/null 2>&1 || true
done

r="$(redis_bin)" || { log "apt-get finished but no redis-server"; exit 1; }
p="$(postgres_bin)" || { log "apt-get finished but no postgres binary under /usr/lib/postgresql"; exit 1; }
echo "$r"; echo "$p"
