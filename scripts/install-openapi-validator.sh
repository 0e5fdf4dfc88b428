#!/usr/bin/env bash
# Installs openapi-spec-validator (PyPI) into .venv/openapi, unless it is already there: an
# OpenAPI 3 validator of its own, which posd's test of its API document runs. Used by the test
# command; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv/openapi
if [ -x "$venv/bin/openapi-spec-validator" ]; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q "openapi-spec-validator==0.7.*"
