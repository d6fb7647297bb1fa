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
# Reinstall when pyproject.toml changed, or when the last install was not of the demo extra.
STAMP=.venv/.lingtan-demo-install
if [ ! -x .venv/bin/lingtan ] || [ pyproject.toml -nt "$STAMP" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "demo" ]; then
    .venv/bin/python -m pip install -q -e '.[demo]' && echo demo >"$STAMP"
fi
exec .venv/bin/lingtan demo "$@"
