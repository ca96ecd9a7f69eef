#!/usr/bin/env bash
# Create .venv (once) and install gdlab into it, editable, with the extras named in $1
# ("" for the library and CLI on NumPy alone, "fast" adds the compiled engine (numba), "test"
# the compiled engine and the test tools). Re-runs only when pyproject.toml
# changes. Needs nothing but python3 >= 3.11 on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "gdlab needs Python >= 3.11; found: $("$py" --version 2>&1)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$py" -m venv .venv
stamp=".venv/.gdlab-installed-${extras:-base}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  spec="."
  [ -n "$extras" ] && spec=".[${extras}]"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"
  echo "$want" > "$stamp"
fi
