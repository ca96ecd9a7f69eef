"""Typed expressions within one budget: parse, derivatives and code generation end in < 2 s.

The worst cases found by hand (issue 21): a product of 29 sin(x*y + i) took 7.1 s and a
power tower x**x**... of 39 levels 3.2 s, because lambdify ran in the calling process outside
the 5 s budget; `x^2` with 700 unused variables took 9 s. Now everything runs in the worker,
against one deadline, and only the derivatives a command needs are derived.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import sympy
from _checks import thread_seconds

from gdlab.cli import main
from gdlab.functions.descent import as_objective, critical_points
from gdlab.functions.symbolic import (
    DEFAULT_TIMEOUT,
    GRAMMAR,
    MAX_VARIABLES,
    ExpressionError,
    SymbolicFunction,
    _in_worker,
    compile_function,
)

BUDGET_S = 2.0
BUDGET_BYTES = 300 * 2**20

WORST = {
    "product of 29 sin(x*y+i)": ("*".join(f"sin(x*y+{i})" for i in range(29)), None),
    "power tower of 39 x": ("x" + "**x" * 38, None),
    "x^2 with 700 variables": ("x^2", [f"v{i}" for i in range(700)] + ["x"]),
    "product of 16 sums": ("*".join(f"(x{i}+y{i})" for i in range(16)), None),
    "32 coupled sines": ("+".join(f"sin(a{i}*a{(i + 1) % 32})" for i in range(32)), None),
    "exp tower": ("exp(" * 12 + "x*y" + ")" * 12, None),
    "long sum of products": ("+".join(f"x*y^{i}*sin(x+{i})" for i in range(1, 25)), None),
}


@pytest.mark.parametrize("hessian", [False, True])
@pytest.mark.parametrize("name", sorted(WORST))
def test_worst_expressions_accepted_or_refused_within_budget(name: str, hessian: bool) -> None:
    text, variables = WORST[name]
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        f = compile_function(text, variables, hessian=hessian)
    except ExpressionError as exc:
        msg = str(exc)
        assert "\n" not in msg and len(msg) < 400, msg
        assert ("took longer than 1.5 s" in msg or "the limit is 32" in msg), msg
    else:
        P = np.full((3, f.n_vars), 0.5)
        assert f.value_and_grad(P)[1].shape == (3, f.n_vars)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < BUDGET_S, f"{name}: {seconds:.2f} s"
    assert peak < BUDGET_BYTES, f"{name}: {peak / 2**20:.0f} MiB"


def test_the_budget_covers_code_generation() -> None:
    # 0.05 s is not enough to derive and generate code for this one (0.2-0.8 s measured, less
    # once the tests above have warmed the forked worker's imports): stopped at the deadline
    text = WORST["product of 29 sin(x*y+i)"][0]
    t0 = time.perf_counter()
    with pytest.raises(ExpressionError, match=r"Parsing, differentiating and compiling .* "
                                              r"took longer than 0.05 s"):
        compile_function(text, timeout=0.05)
    assert time.perf_counter() - t0 < 0.05 + 0.7  # the deadline plus stopping the worker


def test_minimize_derives_no_hessian_and_critical_points_do() -> None:
    f = compile_function("x^2*y + y^3 - 3*y")
    assert f._h is None and f._hessian_entries is None
    assert f.value_and_grad([1.0, 2.0])[1].tolist() == [4.0, 1.0 + 12.0 - 3.0]
    obj = as_objective("x^4 + y^2")
    assert obj.function is not None and obj.function._h is None
    # on first use, within its own budget
    np.testing.assert_array_equal(f.hessian([1.0, 2.0]), [[4.0, 2.0], [2.0, 12.0]])
    assert f.hessian_exprs == sympy.Matrix([[2 * f.variables[1], 2 * f.variables[0]],
                                            [2 * f.variables[0], 6 * f.variables[1]]])
    g = compile_function("x^2 - y^2", hessian=True)
    assert g._h is not None
    points = critical_points("x^2 - y^2", domain=[(-1, 1), (-1, 1)], grid=3)
    assert [p.kind for p in points] == ["saddle"]


def test_trusted_sympy_functions_derive_the_hessian_lazily_too() -> None:
    x, y = sympy.symbols("x y", real=True)
    f = SymbolicFunction(x**2 * y, [x, y])
    assert f._h is None
    np.testing.assert_array_equal(f.hessian([[1.0, 3.0]]), [[[6.0, 2.0], [2.0, 0.0]]])


def test_variable_limit() -> None:
    names = [f"v{i}" for i in range(MAX_VARIABLES + 1)]
    with thread_seconds() as seconds, pytest.raises(
            ExpressionError, match=r"^33 variables are declared; the limit is 32\. Declare only "
                                   r"the variables the expression uses\.$"):
        compile_function("v0^2", names)
    assert seconds() < 0.1
    text = "+".join(f"v{i}" for i in range(MAX_VARIABLES + 1))
    with pytest.raises(ExpressionError, match="uses 33 variables; the limit is 32"):
        compile_function(text)
    assert compile_function("+".join(names[:MAX_VARIABLES])).n_vars == MAX_VARIABLES


@pytest.mark.parametrize(("text", "char", "column"), [
    ("x^2 # + y", "'#'", 5), ("x^2 +\ny", "'\\n'", 6), ("(x +\r\n y)", "'\\r'", 5),
    ("x^2 \\\n+ y", "'\\\\'", 5), ("x; y", "';'", 2), ("x\x00", "'\\x00'", 2),
])
def test_comments_and_statements_refused_with_the_grammar(text: str, char: str,
                                                          column: int) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_function(text)
    msg = str(info.value)
    assert msg.startswith(f"The character {char} at column {column} is not part of an "
                          "expression (comments, line breaks and statements are not allowed)")
    assert msg.endswith(GRAMMAR) and "\n" not in msg
    assert "sin, cos, tan" in GRAMMAR


def test_worker_memory_is_capped() -> None:
    def hog() -> int:
        blocks = [bytearray(2**20) for _ in range(2048)]  # 2 GiB
        return len(blocks)

    with pytest.raises(ExpressionError, match="needed more than 256 MB of memory"):
        _in_worker(hog, (), "hog", time.monotonic() + 30, 30)


def test_default_budget() -> None:
    assert DEFAULT_TIMEOUT == 1.5


@pytest.mark.parametrize(("argv", "needle"), [
    (["minimize", "x^2 # comment", "--start", "1"], "The character '#' at column 5"),
    (["minimize", "x^2", "--start", "1", "--vars", ",".join(f"v{i}" for i in range(700))],
     "700 variables are declared; the limit is 32"),
    (["critical", "x" + "**x" * 38, "--domain", "0.5,2"], "took longer than 1.5 s"),
    (["minimize", "*".join(f"sin(x*y+{i})" for i in range(29)), "--start", "0.1,0.2",
      "--steps", "5"], None),
])
def test_cli_expressions_within_budget(argv: list[str], needle: str | None,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert seconds < BUDGET_S + 1.0, f"{seconds:.2f} s"  # + the descent and printing
    if needle is None:
        assert code == 0, err
        return
    assert code == 1 and err.count("\n") == 1 and needle in err, err
