#!/usr/bin/env bash
# The second README command: install everything the tests need and run the whole suite.
# Arguments go to pytest (e.g. -k dispatch, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PYTHONUNBUFFERED=1
exec "${BREDGIO_VENV:-.venv}/bin/python" -m pytest "$@"
