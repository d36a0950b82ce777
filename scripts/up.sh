#!/usr/bin/env bash
# The first README command: set up and start Bredgio on embedded defaults.
# Arguments go to `bredgio up` (e.g. --host 0.0.0.0 --port 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${BREDGIO_VENV:-.venv}/bin/bredgio" up "$@"
