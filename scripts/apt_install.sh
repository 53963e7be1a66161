# Sourced by the scripts that make sure a Debian-packaged tool is there (install_prometheus.sh,
# install_store_servers.sh): installs packages with apt-get, as root or through passwordless sudo.
#
#   apt_install LOCK CHECK PACKAGE...
#
# Takes the lock ``$TMPDIR/toolrelay-LOCK.lock`` (two `make test` runs on one machine must not race on
# dpkg), returns at once if CHECK (a command) now succeeds — the other run installed it — and
# otherwise installs the packages without their recommends. Leaves AS_ROOT set for follow-up
# commands. Exits 1 with a message when it cannot install. Expects a `log` function.

apt_install() {
    local lock="$1" check="$2"
    shift 2
    if ! command -v apt-get >/dev/null 2>&1; then
        log "no apt-get here: install the Debian packages' equivalents of $* yourself"
        exit 1
    fi
    AS_ROOT=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            AS_ROOT=(sudo -n)
        else
            log "installing the Debian packages $* needs root (or passwordless sudo)"
            exit 1
        fi
    fi
    exec 9>"${TMPDIR:-/tmp}/toolrelay-$lock.lock"
    flock 9
    if "$check" >/dev/null 2>&1; then
        return 0
    fi
    log "installing the Debian packages $*"
    export DEBIAN_FRONTEND=noninteractive
    "${AS_ROOT[@]}" apt-get update -qq
    "${AS_ROOT[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2
}
