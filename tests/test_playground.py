"""`gdlab playground` without a browser: the page is one self-contained file, the data it draws
come from gdlab's own surfaces and critical points, f and its gradient are SymPy's printing,
and bad input is one line on stderr. (tests/test_playground_browser.py runs the page.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy

from gdlab.functions.surfaces import get_surface
from gdlab.functions.symbolic import SymbolicFunction, compile_function
from gdlab.playground import build_playground, render_page, write_playground
from gdlab.playground.jsgen import function_to_js


def _spec(page: str) -> dict:
    m = re.search(r"var GDLAB_SPEC = (\{.*?\});\n", page)
    assert m
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def test_the_page_is_one_file_that_loads_nothing(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    path = write_playground("peaks", tmp_path / "peaks.html")
    seconds = time.perf_counter() - t0
    page = path.read_text()
    assert seconds < 10 and 50_000 < len(page) < 600_000
    # no URL to fetch: no http(s) anywhere, no src=, one <link> (the empty data: icon)
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert not re.search(r"\bsrc\s*=", page)
    assert re.findall(r"<link[^>]*>", page) == ['<link rel="icon" href="data:,">']
    assert "@import" not in page and "url(" not in page
    assert page.count("<script>") == 3 and "fetch(" not in page and "XMLHttpRequest" not in page
    assert "{{" not in page  # every placeholder filled


def test_the_page_draws_the_library_s_data() -> None:
    pg = build_playground("peaks")
    s = pg.spec
    assert s["name"] == "peaks" and s["d"] == 2 and s["variables"] == ["x", "y"]
    assert s["view"] == [[-3.0, 3.0], [-3.0, 3.0]] and s["descend_domain"] == s["view"]
    surface = get_surface("peaks")
    minima = [c for c in s["critical"] if c["kind"] == "minimum"]
    assert s["n_minima"] == 3 and s["critical"][:3] == minima
    for c, (point, value) in zip(minima, surface.minima, strict=True):
        np.testing.assert_allclose(c["point"], point, atol=1e-8)
        assert c["value"] == pytest.approx(value, abs=1e-8)
    assert sorted(c["kind"] for c in s["critical"][3:]) == ["maximum"] * 3 + ["saddle"] * 3
    # the heatmap grid: f on a 121 x 121 grid, rows along y
    n = s["grid"]["n"]
    V = np.array(s["grid"]["values"], dtype=float).reshape(n, n)
    xs = np.linspace(-3, 3, n)
    assert V[40, 70] == pytest.approx(float(surface.function.value([xs[70], xs[40]])), rel=1e-5)
    assert len(s["colors"]) == 256 and s["colors"] == sorted(s["colors"])
    assert len(s["levels"]) == 14 and s["quadratic"] is None
    assert s["defaults"] == {"start": [0.5, 1.0], "lr": 0.02, "steps": 200}


def test_quadratics_get_the_hessian_eigenvalues_and_one_variable_a_curve() -> None:
    booth = build_playground("booth").spec
    assert booth["quadratic"]["eigenvalues"] == pytest.approx([2.0, 18.0])
    typed = build_playground("x^2 + 3*y^2 - x*y").spec
    assert typed["quadratic"]["eigenvalues"] == pytest.approx(
        np.linalg.eigvalsh([[2.0, -1.0], [-1.0, 6.0]]).tolist())
    # an expression: drawn on [-3, 3]^2, descended unbounded (minimize's default)
    assert typed["view"] == [[-3.0, 3.0], [-3.0, 3.0]] and typed["descend_domain"] is None
    # lr: a quarter of 2 / lambda_max = 2 / 6.41, one digit
    assert typed["defaults"]["lr"] == 0.08
    assert build_playground("x^4 + y^2").spec["quadratic"] is None  # not degree 2
    assert build_playground("x^2 - y^2").spec["quadratic"] is None  # a saddle, not a bowl
    q = build_playground("quartic_1d").spec
    assert q["d"] == 1 and "grid" not in q and len(q["curve"]["x"]) == 401
    assert q["curve"]["y"][200] == pytest.approx(0.0)  # f(0) = 0
    assert [c["kind"] for c in q["critical"]] == ["minimum", "minimum", "maximum"]
    boxed = build_playground("x^2 + 3*y^2", domain=[(-1, 2), (0, 4)]).spec
    assert boxed["view"] == [[-1.0, 2.0], [0.0, 4.0]] and boxed["descend_domain"] == boxed["view"]


def test_f_and_its_gradient_are_sympy_s_javascript() -> None:
    fn = compile_function("exp(-x^2) * cos(y) + abs(x - y)^3")
    js = function_to_js(fn)
    assert js.fg.startswith("function (p) {") and "var v_x = p[0];" in js.fg
    assert "Math.exp(" in js.fg and "Math.cos(" in js.fg and "Math.sign(" in js.fg
    # NumPy's x**(1/3) is NaN below 0; SymPy's default Math.cbrt would be real there
    cube = function_to_js(compile_function("x^(1/3) + y^2"))
    assert "Math.pow(v_x, 1/3)" in cube.fg and "cbrt" not in cube.fg
    # variable names that are JavaScript words stay usable
    words = function_to_js(compile_function("new^2 + var^2", ["new", "var"]))
    assert "v_new" in words.fg and "v_var" in words.fg
    x = sympy.Symbol("x", real=True)
    with pytest.raises(ValueError, match="cannot be written as JavaScript"):
        function_to_js(SymbolicFunction(sympy.gamma(x) + x**2, [x]))


def test_render_page_inlines_everything_once() -> None:
    pg = build_playground("x^2 + 2*y^2")
    page = render_page(pg)
    assert page.count("var gdlabOptim") == 1 and page.count("window.gdlab = {") == 1
    assert pg.fg_js in page and _spec(page)["text"] == "x^2 + 2*y^2"
    assert "<title>gdlab playground: x^2 + 2*y^2</title>" in page


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gdlab.cli", "playground", *args],
                          capture_output=True, text=True, check=False, timeout=120)


def test_cli_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "sub.html"
    proc = _cli("x*y + x^2 + y^4", "--vars", "y,x", "--domain", "-2,2,-1,1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out} (") and "file://" in proc.stdout
    spec = _spec(out.read_text())
    assert spec["variables"] == ["y", "x"] and spec["view"] == [[-2.0, 2.0], [-1.0, 1.0]]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["peak"], 1, "Unknown surface 'peak'. Did you mean 'peaks'?"),
    (["x^2 +"], 1, "gdlab: error:"),
    (["peaks", "--domain", "1,2,3"], 2, "expected 4 number(s)"),
    (["peaks", "--domain", "1,0,-3,3"], 1, "must be 2 pair(s) (lo, hi) with lo < hi"),
    (["peaks", "--domain", "a,b,c,d"], 2, "expected comma-separated numbers"),
    (["x + y + z"], 1, "draws functions of 1 or 2 variables; 'x + y + z' has 3"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path: Path, args: list[str], code: int,
                                                   message: str) -> None:
    out = tmp_path / "p.html"
    proc = _cli(*args, "--out", str(out))
    assert proc.returncode == code
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdlab: error:")
    assert message in lines[0]
    assert not out.exists()
