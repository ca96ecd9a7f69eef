"""`gdlab minimize`, `gdlab basins`, `gdlab critical`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdlab.cli import main
from gdlab.functions.descent import minimize


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_minimize_json_matches_library(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, ["minimize", "peaks", "--start", "0.5,-1.2", "--optimizer", "adam",
                         "--lr", "0.02", "--steps", "3000", "--json"])
    (run,) = out["runs"]
    ref = minimize("peaks", [0.5, -1.2], optimizer="adam", lr=0.02, steps=3000)
    assert run["status"] == "converged" == ref.status
    assert run["n_steps"] == ref.n_steps
    np.testing.assert_allclose(run["x"], [0.228279, -1.625535], atol=1e-5)
    assert run["value"] == pytest.approx(-6.551133, abs=1e-6)
    assert "trajectory" not in run


def test_minimize_trajectory_and_expression(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, ["minimize", "x^2 + 3*y^2", "--start", "1,1", "--lr", "0.1",
                         "--steps", "3", "--tol", "0", "--json", "--trajectory"])
    tr = out["runs"][0]["trajectory"]
    # GD: x <- x (1 - 0.2), y <- y (1 - 0.6)
    np.testing.assert_allclose(tr["points"], [[1, 1], [0.8, 0.4], [0.64, 0.16],
                                              [0.512, 0.064]], rtol=1e-14)
    assert tr["lrs"] == [0.1, 0.1, 0.1]
    assert out["variables"] == ["x", "y"]


def test_minimize_compare_table_and_plot(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "paths.png"
    assert main(["minimize", "peaks", "--start", "-0.1,1.2", "--compare", "gd,momentum,adam",
                 "--lr", "0.02", "--steps", "2000", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    for name in ("gd", "momentum", "adam", "converged"):
        assert name in text
    assert "-6.5511333" in text and "-3.0498494" in text  # momentum and adam reach these
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_minimize_1d_gif_and_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gif = tmp_path / "a.gif"
    out = _json(capsys, ["minimize", "quartic_1d", "--start", "2", "--lr", "0.02",
                         "--schedule", "dynamic", "--steps", "60", "--plot", str(gif), "--json"])
    assert out["runs"][0]["schedule"] == "dynamic"
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_basins_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "b.png"
    out = _json(capsys, ["basins", "peaks", "--grid", "31", "--steps", "3000", "--json",
                         "--plot", str(png)])
    assert out["n_starts"] == 31 * 31
    assert sum(r["share"] for r in out["outcomes"]) == pytest.approx(1.0)
    minima = [r for r in out["outcomes"] if "value" in r]
    assert [round(r["value"], 4) for r in minima] == [-6.5511, -3.0498, -0.0649]
    assert minima[0]["max_stable_lr"] == pytest.approx(2 / 30.18221411, rel=1e-6)
    assert png.exists()


def test_critical_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["critical", "peaks"]) == 0
    text = capsys.readouterr().out
    assert text.count("minimum") == 3 and text.count("saddle") == 3
    out = _json(capsys, ["critical", "x^2 - y^2", "--domain", "-1,1,-1,1", "--json"])
    (p,) = out["points"]
    assert p["kind"] == "saddle" and p["eigenvalues"] == [-2.0, 2.0]
    assert p["max_stable_lr"] is None


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["minimize", "x^^2", "--start", "1"], 1, "Syntax error"),
        (["minimize", "peaks", "--start", "1"], 2, "expected 2 number(s)"),
        (["minimize", "peaks", "--start", "a,b"], 2, "comma-separated numbers"),
        (["minimize", "peaks", "--start", "1,1", "--lr", "-1"], 2, "positive"),
        (["minimize", "peak", "--start", "1,1"], 1, "Did you mean 'peaks'"),
        (["minimize", "peaks", "--start", "9,9"], 1, "inside the domain"),
        (["minimize", "peaks", "--start", "1,1", "--optimizer", "lbfgs"], 2,
         "'lbfgs' is not one of 'gd'"),
        (["critical", "x^2 - y^2"], 1, "'domain' parameter is required"),
        (["basins", "peaks", "--domain", "1,2,3"], 2, "expected 4 number(s)"),
    ],
)
def test_errors_are_one_line(argv: list[str], code: int, needle: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_subprocess_bad_expression_and_good_run() -> None:
    bad = subprocess.run([sys.executable, "-m", "gdlab.cli", "minimize", "x +* 2", "--start",
                          "1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    good = subprocess.run([sys.executable, "-m", "gdlab.cli", "minimize", "(x-2)^2", "--start",
                           "0", "--lr", "0.5", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert good.returncode == 0, good.stderr
    run = json.loads(good.stdout)["runs"][0]
    assert run["status"] == "converged" and run["x"] == [2.0] and run["n_steps"] == 1
