"""Critical points by vectorized Newton: the reference surfaces' points are all found."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.functions.critical import CriticalPoint, classify_hessian, find_critical_points
from gdlab.functions.surfaces import get_surface
from gdlab.functions.symbolic import compile_function


def _find(points: list[CriticalPoint], kind: str, where: tuple[float, ...], tol: float = 1e-4):
    hits = [p for p in points if p.kind == kind and np.allclose(p.point, where, atol=tol)]
    assert len(hits) == 1, (kind, where, points)
    return hits[0]


def test_peaks_three_minima_maxima_saddles() -> None:
    s = get_surface("peaks")
    points = find_critical_points(s.function, s.domain)
    kinds = [p.kind for p in points]
    assert kinds == ["minimum"] * 3 + ["maximum"] * 3 + ["saddle"] * 3
    reference = {
        "minimum": [((0.228279, -1.625535), -6.551133), ((-1.347396, 0.204519), -3.049849),
                    ((0.296446, 0.320196), -0.064936)],
        "maximum": [((-0.009318, 1.581368), 8.106214), ((-0.460025, -0.629197), 3.776581),
                    ((1.285685, -0.004848), 3.592490)],
        "saddle": [((0.416323, -0.394145), None), ((-0.265938, 0.466740), None),
                   ((1.098273, 0.854461), None)],
    }
    for kind, listed in reference.items():
        for where, value in listed:
            p = _find(points, kind, where)
            if value is not None:
                assert p.value == pytest.approx(value, abs=1e-4)
    # sorted by kind, then value
    assert [p.value for p in points[:3]] == sorted(p.value for p in points[:3])
    g = points[0]
    assert g.max_stable_lr == pytest.approx(2.0 / g.eigenvalues[-1])
    assert points[3].max_stable_lr is None


def test_himmelblau_four_minima_and_the_maximum() -> None:
    s = get_surface("himmelblau")
    points = find_critical_points(s.function, s.domain)
    for where in [(3, 2), (-2.805118, 3.131313), (-3.779310, -3.283186), (3.584428, -1.848127)]:
        assert _find(points, "minimum", where).value == pytest.approx(0.0, abs=1e-10)
    top = _find(points, "maximum", (-0.270845, -0.923039))
    assert top.value == pytest.approx(181.617, abs=1e-3)
    assert sum(p.kind == "saddle" for p in points) == 4
    assert len(points) == 9


def test_six_hump_camel_six_minima() -> None:
    s = get_surface("six_hump_camel")
    points = find_critical_points(s.function, s.domain)
    minima = [p for p in points if p.kind == "minimum"]
    assert len(minima) == 6
    for (x, y), value in [((0.089842, -0.712656), -1.031628), ((1.703607, -0.796084), -0.215464),
                          ((1.607105, 0.568651), 2.104251)]:
        for sign in (1, -1):
            p = _find(points, "minimum", (sign * x, sign * y))
            assert p.value == pytest.approx(value, abs=1e-6)


def test_rosenbrock_single_minimum() -> None:
    s = get_surface("rosenbrock")
    points = find_critical_points(s.function, s.domain)
    assert len(points) == 1
    np.testing.assert_allclose(points[0].point, [1.0, 1.0], atol=1e-10)
    assert points[0].kind == "minimum"
    # Hessian [[802, -400], [-400, 200]] at (1, 1)
    np.testing.assert_allclose(
        points[0].eigenvalues, np.linalg.eigvalsh([[802.0, -400.0], [-400.0, 200.0]])
    )


def test_quartic_1d() -> None:
    s = get_surface("quartic_1d")
    points = find_critical_points(s.function, s.domain)
    roots = np.sort(np.roots([4, 0, -6, 1]).real)
    assert [p.kind for p in points] == ["minimum", "minimum", "maximum"]
    np.testing.assert_allclose(
        sorted(float(p.point[0]) for p in points), roots, atol=1e-10
    )
    f = lambda x: x**4 - 3 * x**2 + x  # noqa: E731
    for p in points:
        assert p.value == pytest.approx(f(p.point[0]), abs=1e-12)
    # f''(x) = 12 x^2 - 6
    left = points[0]
    assert left.eigenvalues[0] == pytest.approx(12 * roots[0] ** 2 - 6)
    assert left.max_stable_lr == pytest.approx(2 / (12 * roots[0] ** 2 - 6))


def test_max_stable_lr_on_quadratic_bowl() -> None:
    for kappa in (10.0, 250.0):
        s = get_surface("quadratic_bowl", condition_number=kappa, angle=0.4)
        (point,) = find_critical_points(s.function, s.domain, grid=5)
        assert point.kind == "minimum"
        np.testing.assert_allclose(point.point, [0.0, 0.0], atol=1e-12)
        assert point.max_stable_lr == pytest.approx(2.0 / kappa, rel=1e-12)


def test_degenerate_and_higher_dimensions() -> None:
    (p,) = find_critical_points(compile_function("x^4"), [(-1, 1)])
    assert p.kind == "degenerate"
    assert abs(p.point[0]) < 1e-6
    # 4-D: random starts; a separable function with minima at +-1 in each coordinate
    f = compile_function("(a^2-1)^2 + (b^2-1)^2 + (c^2-1)^2 + (d^2-1)^2")
    points = find_critical_points(f, [(-2, 2)] * 4, n_random=3000, seed=0)
    minima = [p for p in points if p.kind == "minimum"]
    assert len(minima) == 16
    assert all(np.allclose(np.abs(p.point), 1.0) for p in minima)
    assert len(points) == 3**4  # each coordinate at -1, 0 or 1
    (top,) = [p for p in points if p.kind == "maximum"]
    np.testing.assert_allclose(top.point, 0.0, atol=1e-12)
    # 3-D grid
    g = compile_function("x^2 + 2*y^2 + 3*z^2 - x*y")
    (p3,) = find_critical_points(g, [(-1, 1)] * 3, grid=7)
    np.testing.assert_allclose(p3.point, 0.0, atol=1e-12)


def test_classify_hessian() -> None:
    assert classify_hessian([1.0, 2.0]) == "minimum"
    assert classify_hessian([-1.0, -2.0]) == "maximum"
    assert classify_hessian([-1.0, 2.0]) == "saddle"
    assert classify_hessian([0.0, 2.0]) == "degenerate"


def test_bad_arguments() -> None:
    f = compile_function("x^2 + y^2")
    with pytest.raises(ValueError, match="'domain' parameter of find_critical_points"):
        find_critical_points(f, [(-1, 1)])
    with pytest.raises(ValueError, match="lo < hi"):
        find_critical_points(f, [(1, -1), (0, 1)])
    with pytest.raises(ValueError, match="'grid' parameter"):
        find_critical_points(f, [(-1, 1)] * 2, grid=1)
    with pytest.raises(TypeError, match="needs a SymbolicFunction"):
        find_critical_points("x^2", [(-1, 1)])  # type: ignore[arg-type]
