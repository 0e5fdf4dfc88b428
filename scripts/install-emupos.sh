#!/usr/bin/env bash
# Installs the emupos ESC/POS printer emulator (PyPI, Python >= 3.13) into .venv/emupos,
# unless it is already there. Used by the test command; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv/emupos
if [ -x "$venv/bin/emupos" ]; then
    exit 0
fi
python=""
for candidate in python3.14 python3.13 "$HOME/.pyenv/versions/3.13"*/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "install-emupos: no Python >= 3.13 found (pyenv or python3.13)" >&2
    exit 1
fi
"$python" -m venv "$venv"
"$venv/bin/pip" install -q emupos
