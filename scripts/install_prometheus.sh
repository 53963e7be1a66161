#!/usr/bin/env bash
# Makes sure a Prometheus server binary is available for the metrics tests (tests/ops/).
# Idempotent: a `prometheus` already on PATH (or named by $PROMETHEUS_BIN) means there is nothing to
# do. Otherwise it installs the Debian package `prometheus` (which also ships `promtool`) with
# apt-get, as root or through passwordless sudo. Prints the binary's path last.
set -euo pipefail

log() { echo "[install_prometheus] $*" >&2; }

found() {
    if [[ -n "${PROMETHEUS_BIN:-}" && -x "${PROMETHEUS_BIN}" ]]; then
        echo "${PROMETHEUS_BIN}"
        return 0
    fi
    command -v prometheus 2>/dev/null
}

if path="$(found)"; then
    echo "$path"
    exit 0
fi

# shellcheck source=apt_install.sh
source "$(dirname "$0")/apt_install.sh"
# Recommends would pull in node-exporter and friends, which the tests never use.
apt_install install-prometheus found prometheus

path="$(found)" || { log "apt-get finished but no prometheus binary is on PATH"; exit 1; }
"$path" --version >&2
echo "$path"
