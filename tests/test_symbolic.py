"""SymbolicFunction: exact derivatives checked against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from gdlab.functions.surfaces import PEAKS_TEXT, get_surface
from gdlab.functions.symbolic import (
    ExpressionError,
    SymbolicFunction,
    compile_function,
    parse_expression,
)

# (text, domain box for random points); domains keep every function real and smooth
EXPRESSIONS = [
    ("x^2 + 3*y", (-2, 2)),
    ("x*y + y^3 - 2*x", (-2, 2)),
    ("sin(x)*cos(y)", (-3, 3)),
    ("exp(-x^2 - y^2)", (-1.5, 1.5)),
    ("(1-x)^2 + 100*(y-x^2)^2", (-1.5, 1.5)),
    ("log(1 + x^2 + y^2)", (-2, 2)),
    ("sqrt(1 + x^2 + 2*y^2)", (-2, 2)),
    ("tanh(x - y) + atan(x*y)", (-2, 2)),
    ("x^4 - 3*x^2 + x", (-2, 2)),
    ("cos(2*pi*x) + x^2", (-1, 1)),
    ("3*x^2 - 3*x + 4", (-2, 2)),
    ("x/(1 + y^2)", (-2, 2)),
    ("sinh(x)/cosh(y) - asinh(x*y)", (-1, 1)),
    ("exp(x)*sin(y) + z^2*x", (-1, 1)),
    ("x1^2 + x2^2 + x10*x1 - x2*x10", (-2, 2)),
    ("2^x + x^y", (0.5, 1.5)),
    ("abs(x - 5) + abs(y + 5)", (-2, 2)),
    ("acos(x/3) + asin(y/3)", (-2, 2)),
    ("e^(x*y) - pi*x", (-1, 1)),
    ("-(x+y)^3/3 + 0.5*x*y^2", (-2, 2)),
    ("(x^2 + y - 11)^2 + (x + y^2 - 7)^2", (-4, 4)),
    (PEAKS_TEXT, (-3, 3)),
]


def _fd_grad(f: SymbolicFunction, P: np.ndarray, h: float = 1e-6) -> np.ndarray:
    d = f.n_vars
    out = np.empty_like(P)
    for k in range(d):
        e = np.zeros(d)
        e[k] = h
        out[..., k] = (f.value(P + e) - f.value(P - e)) / (2 * h)
    return out


def _fd_hess(f: SymbolicFunction, P: np.ndarray, h: float = 1e-5) -> np.ndarray:
    d = f.n_vars
    out = np.empty((*P.shape, d))
    for k in range(d):
        e = np.zeros(d)
        e[k] = h
        out[..., :, k] = (f.grad(P + e) - f.grad(P - e)) / (2 * h)
    return out


@pytest.mark.parametrize("text,box", EXPRESSIONS)
def test_gradient_and_hessian_match_finite_differences(text: str, box: tuple) -> None:
    f = compile_function(text)
    rng = np.random.default_rng(abs(hash(text)) % 2**32)
    P = rng.uniform(box[0], box[1], size=(25, f.n_vars))
    scale = 1.0 + np.abs(f.grad(P))
    np.testing.assert_allclose(f.grad(P), _fd_grad(f, P), rtol=1e-6, atol=1e-6 * scale.max())
    H = f.hessian(P)
    np.testing.assert_allclose(H, np.swapaxes(H, -1, -2))
    hscale = 1.0 + np.abs(H).max()
    np.testing.assert_allclose(H, _fd_hess(f, P), rtol=1e-5, atol=1e-5 * hscale)
    v, g = f.value_and_grad(P)
    # cse may reorder floating-point operations: equal to rounding
    np.testing.assert_allclose(v, f.value(P), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(g, f.grad(P), rtol=1e-13, atol=1e-14)


def test_values_match_numpy_formula() -> None:
    f = compile_function("sin(x)*exp(y) - x^3/7")
    rng = np.random.default_rng(0)
    P = rng.normal(size=(10, 2))
    x, y = P[:, 0], P[:, 1]
    np.testing.assert_allclose(f.value(P), np.sin(x) * np.exp(y) - x**3 / 7, rtol=1e-14)
    np.testing.assert_allclose(
        f.grad(P), np.stack([np.cos(x) * np.exp(y) - 3 * x**2 / 7, np.sin(x) * np.exp(y)], -1),
        rtol=1e-14,
    )


def test_constant_derivatives_broadcast_to_the_points_shape() -> None:
    f = compile_function("x^2 + 3*y")
    P = np.zeros((4, 5, 2))
    g = f.grad(P)
    assert g.shape == (4, 5, 2)
    np.testing.assert_array_equal(g[..., 1], 3.0)
    H = f.hessian(P)
    assert H.shape == (4, 5, 2, 2)
    np.testing.assert_array_equal(H[..., 0, 0], 2.0)
    np.testing.assert_array_equal(H[..., 1, 1], 0.0)
    lin = compile_function("2*x - y + 1")
    np.testing.assert_array_equal(lin.grad(np.ones((3, 2))), [[2.0, -1.0]] * 3)
    np.testing.assert_array_equal(lin.hessian(np.ones((3, 2))), np.zeros((3, 2, 2)))
    v, g = lin.value_and_grad(np.ones((3, 2)))
    np.testing.assert_array_equal(v, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(g, [[2.0, -1.0]] * 3)


def test_single_point_and_one_dimensional_convenience() -> None:
    f = compile_function("3*x^2 - 3*x + 4")
    assert f.value(np.array([0.5])).shape == ()
    assert f.value(np.array([0.5])) == pytest.approx(3.25)
    np.testing.assert_allclose(f.value(np.array([0.0, 1.0, 2.0])), [4.0, 4.0, 10.0])
    np.testing.assert_allclose(f.grad(np.array([0.0, 1.0, 2.0])), [[-3.0], [3.0], [9.0]])
    assert f.hessian(np.array([[0.0], [1.0]])).shape == (2, 1, 1)
    assert f.grad(0.5).tolist() == [0.0]
    g2 = compile_function("x*y")
    np.testing.assert_allclose(g2.grad([2.0, 3.0]), [3.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        g2.grad(np.zeros((4, 3)))


def test_float32_points_stay_float32() -> None:
    f = compile_function("x^2 + 3*y")
    P = np.ones((5, 2), dtype=np.float32)
    assert f.value(P).dtype == np.float32
    assert f.grad(P).dtype == np.float32
    assert f.hessian(P).dtype == np.float32


def test_variable_inference_and_order() -> None:
    _, syms = parse_expression("y + x")
    assert [s.name for s in syms] == ["x", "y"]
    _, syms = parse_expression("x10 + x2 + x1 + b")
    assert [s.name for s in syms] == ["b", "x1", "x2", "x10"]
    _, syms = parse_expression("y*x", ["y", "x", "w"])
    assert [s.name for s in syms] == ["y", "x", "w"]
    f = compile_function("y - x", ["y", "x"])
    np.testing.assert_array_equal(f.grad([1.0, 1.0]), [1.0, -1.0])
    assert f.n_vars == 2


def test_unknown_name_names_it_and_lists_declared() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression("x^2+z", ["x", "y"])
    msg = str(info.value)
    assert "Unknown name 'z'" in msg and "x, y" in msg and "column 5" in msg
    assert "variables=" in msg


def test_text_and_latex_output() -> None:
    f = compile_function("x^2*y + 3*y")
    assert str(f) == "f(x, y) = x**2*y + 3*y"
    assert f.gradient_text() == "df/dx = 2*x*y\ndf/dy = x**2 + 3"
    assert f.gradient_latex() == (
        r"\nabla f = \left[\begin{matrix}2 x y\\x^{2} + 3\end{matrix}\right]"
    )
    assert f.hessian_latex() == (
        r"H_f = \left[\begin{matrix}2 y & 2 x\\2 x & 0\end{matrix}\right]"
    )
    assert f.latex() == "x^{2} y + 3 y"
    assert f.gradient_exprs[0] == 2 * f.variables[0] * f.variables[1]
    assert f.hessian_exprs.shape == (2, 2)


def test_caret_is_power_and_constants() -> None:
    expr, (x,) = parse_expression("2^x + e + pi")
    assert expr == 2**x + sympy.E + sympy.pi
    expr, _ = parse_expression("x^2^3")  # right-associative like **
    assert expr == sympy.Symbol("x", real=True) ** 8


def test_built_from_sympy_expression() -> None:
    x, y = sympy.symbols("x y")
    f = SymbolicFunction(x**2 + sympy.sin(y), [x, y])
    np.testing.assert_allclose(f.grad(np.array([[1.0, 0.0]])), [[2.0, 1.0]])
    with pytest.raises(ExpressionError, match="not in variables"):
        SymbolicFunction(x**2 + y, [x])


def test_peaks_typed_as_text_equals_the_named_surface() -> None:
    typed = compile_function(
        "3*(1-x)^2*exp(-x^2-(y+1)^2) - 10*(x/5 - x^3 - y^5)*exp(-x^2-y^2) "
        "- 1/3*exp(-(x+1)^2-y^2)"
    )
    named = get_surface("peaks").function
    rng = np.random.default_rng(1)
    P = rng.uniform(-3, 3, size=(200, 2))
    np.testing.assert_allclose(typed.value(P), named.value(P), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(typed.grad(P), named.grad(P), rtol=1e-13, atol=1e-14)
    # the MATLAB formula written with NumPy directly
    x, y = P[:, 0], P[:, 1]
    z = (
        3 * (1 - x) ** 2 * np.exp(-(x**2) - (y + 1) ** 2)
        - 10 * (x / 5 - x**3 - y**5) * np.exp(-(x**2) - y**2)
        - 1 / 3 * np.exp(-((x + 1) ** 2) - y**2)
    )
    np.testing.assert_allclose(typed.value(P), z, rtol=1e-12, atol=1e-14)
    assert typed.value([0.228279, -1.625535]) == pytest.approx(-6.551133, abs=1e-6)


def test_compile_timeout_raises_expression_error() -> None:
    # A product of many sums (32 variables, the limit): slow enough to exceed a tiny timeout
    text = "*".join(f"(x{i}+y{i})" for i in range(16))
    with pytest.raises(ExpressionError, match="took longer than"):
        compile_function(text, timeout=0.001)


def test_invalid_timeout() -> None:
    with pytest.raises(ValueError, match="'timeout'"):
        compile_function("x", timeout=0)
