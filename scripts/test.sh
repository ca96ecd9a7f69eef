#!/usr/bin/env bash
# The README's test job: set up (with test tools), then ruff, mypy and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "test"
.venv/bin/ruff check gdlab tests benchmarks
.venv/bin/mypy
set +e
.venv/bin/python -m pytest -n 2 -q -p no:cacheprovider "$@"
rc=$?
set -e
# pytest's 5 means "no tests collected": a suite that ran nothing must not pass
exit $rc
