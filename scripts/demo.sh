#!/usr/bin/env bash
# The README's main job: set up, then run the gdlab tour.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh ""
exec .venv/bin/gdlab demo "$@"
