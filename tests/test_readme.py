"""The README's Python example runs and prints what it claims."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs() -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "README.md", "exec"), {})  # our own README, not user input
    lines = out.getvalue().splitlines()
    assert float(lines[0]) > 0.94
    assert lines[2].startswith("72.2237470000") and "-88.48615" in lines[2]
