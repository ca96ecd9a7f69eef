#!/usr/bin/env bash
# The README's main job: set up (with the compiled engine, numba), then run the gdlab tour.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "fast"
exec .venv/bin/gdlab demo "$@"
