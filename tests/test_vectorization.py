"""`gdlab bench vectorization`: the loop-vs-vectorized measurement of lesson L1 runs and
reports consistent numbers (speed is measured, never asserted as a time)."""

from __future__ import annotations

import json

from gdlab.cli import main
from gdlab.teach.vectorization import vectorization_speedup


def test_rows_are_consistent() -> None:
    rows = vectorization_speedup([50, 500], n=3, repeats=1)
    assert [r["m"] for r in rows] == [50, 500]
    for r in rows:
        assert r["loop_s"] > 0 and r["vectorized_s"] > 0
        assert r["speedup"] == r["loop_s"] / r["vectorized_s"]


def test_cli_table_and_json(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["bench", "vectorization", "--m", "100,1000", "--n", "4", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "speed-up" in out and "1000" in out
    assert main(["bench", "vectorization", "--m", "200", "--repeats", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["m"] == 200
    assert main(["bench", "vectorization", "--m", "ten"]) != 0
    assert "comma-separated integers" in capsys.readouterr().err
