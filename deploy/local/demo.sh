#!/usr/bin/env bash
# The one demo command: bash deploy/local/demo.sh [lingtan demo options]
#
# Needs only Python ≥ 3.11 with venv (Debian: python3 python3-venv); no root, no system
# services. Creates .venv, installs lingtan with its demo extra (platform and simulator), and
# runs the whole platform on embedded defaults: dashboard and API on http://127.0.0.1:8000/ .
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=$(command -v python3.11 || command -v python3)
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "demo.sh: Python ≥ 3.11 needed, found $("$PY" --version)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv || { echo "demo.sh: cannot create a venv; on Debian: apt-get install python3-venv" >&2; exit 1; }
fi
# Reinstall when pyproject.toml changed, or when the last install was not of the demo extra. An
# install of the test extra by deploy/local/test.sh (a superset: platform, simulator and more) of
# this very pyproject.toml counts too.
STAMP=.venv/.lingtan-demo-install
TEST_STAMP=.venv/.lingtan-test-install
demo_installed() {
    [ -x .venv/bin/lingtan ] || return 1
    if [ -f "$TEST_STAMP" ] && [ "$(cat "$TEST_STAMP")" = "$(sha256sum pyproject.toml | cut -d' ' -f1)" ]; then
        return 0
    fi
    [ ! pyproject.toml -nt "$STAMP" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "demo" ]
}
if ! demo_installed; then
    echo "demo.sh: installing lingtan[demo] and its dependencies into .venv (the first run fetches about 64 packages, 1–2 minutes)..." >&2
    status=0
    .venv/bin/python -m pip install -e '.[demo]' 2>&1 | tee .venv/pip-install.log \
        | grep --line-buffered -E '^(Collecting|Successfully installed)' | cut -c1-100 >&2 || status=$?
    if [ "$status" -ne 0 ]; then
        tail -n 20 .venv/pip-install.log >&2
        echo "demo.sh: pip install failed (the whole log: .venv/pip-install.log)" >&2
        exit 1
    fi
    echo demo >"$STAMP"
    echo "demo.sh: installed; starting the demo" >&2
fi
exec .venv/bin/lingtan demo "$@"
