"""The README's Python example runs and prints what it claims."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    script = tmp_path / "readme_example.py"
    script.write_text(code.group(1))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          check=True, timeout=300)
    lines = proc.stdout.splitlines()
    assert float(lines[0]) > 0.94
    assert lines[2].startswith("72.2237470000") and "-88.48615" in lines[2]
