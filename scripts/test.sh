#!/usr/bin/env bash
# The README's test job: set up (with test tools), then ruff, mypy and the test suite twice:
# with the compiled engine (numba), then as if numba were absent (GDLAB_NO_NUMBA=1: an import
# block in tests/conftest.py; tests marked numba skip, slow / torch / browser ones are left to
# the first run). Arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "test"
# headless Chromium shows the demo page in one test; Debian's packages, installed once
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver (apt) for the demo page test"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: chromium/chromedriver not found and not root: the browser test will skip" >&2
  fi
fi
.venv/bin/ruff check gdlab tests benchmarks
.venv/bin/mypy
set +e
.venv/bin/python -m pytest -n 2 -q -p no:cacheprovider "$@"
rc=$?
echo "--- again without numba (GDLAB_NO_NUMBA=1)"
GDLAB_NO_NUMBA=1 .venv/bin/python -m pytest -n 2 -q -p no:cacheprovider \
  -m "not slow and not torch and not browser" "$@"
rc_no_numba=$?
set -e
# pytest's 5 means "no tests collected": a suite that ran nothing must not pass
[ $rc -ne 0 ] && exit $rc
exit $rc_no_numba
