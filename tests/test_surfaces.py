"""Named surfaces: the listed critical points really are critical, with the listed values."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.functions.surfaces import SURFACES, Surface, get_surface
from gdlab.functions.symbolic import SymbolicFunction

DIFFERENTIABLE = [name for name in SURFACES if name != "ackley"]


def _grad_tol(s: Surface, p: np.ndarray) -> float:
    # listed points carry 10 decimals: the gradient there is ~1e-10 times the curvature
    H = s.function.hessian(p)
    return 1e-5 * max(1.0, float(np.abs(H).max()) * 1e-3)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_listed_minima_are_minima_with_listed_values(name: str) -> None:
    s = get_surface(name)
    f = s.function
    for point, value in s.minima:
        p = np.array(point)
        assert np.linalg.norm(f.grad(p)) < _grad_tol(s, p), (name, point)
        assert np.all(np.linalg.eigvalsh(f.hessian(p)) > 0), (name, point)
        assert float(f.value(p)) == pytest.approx(value, abs=1e-6), (name, point)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_listed_maxima_and_saddles(name: str) -> None:
    s = get_surface(name)
    f = s.function
    for kind, listed in (("max", s.maxima), ("saddle", s.saddles)):
        for point, value in listed:
            p = np.array(point)
            assert np.linalg.norm(f.grad(p)) < _grad_tol(s, p), (name, point)
            eig = np.linalg.eigvalsh(f.hessian(p))
            if kind == "max":
                assert np.all(eig < 0), (name, point)
            else:
                assert eig[0] < 0 < eig[-1], (name, point)
            assert float(f.value(p)) == pytest.approx(value, abs=1e-6), (name, point)


@pytest.mark.parametrize("name", SURFACES)
def test_every_listed_point_is_inside_the_domain(name: str) -> None:
    s = get_surface(name)
    assert len(s.domain) == s.n_vars == s.function.n_vars
    for point, _ in (*s.minima, *s.maxima, *s.saddles):
        assert len(point) == s.n_vars
        for v, (lo, hi) in zip(point, s.domain, strict=True):
            assert lo <= v <= hi
    assert s.global_minimum == min(s.minima, key=lambda m: m[1])


# The reference table (REFERENCE section 4), to its printed precision
REFERENCE = {
    "peaks": ([(-3, 3), (-3, 3)], [((0.228279, -1.625535), -6.551133),
                                   ((-1.347396, 0.204519), -3.049849),
                                   ((0.296446, 0.320196), -0.064936)]),
    "rosenbrock": ([(-2, 2), (-1, 3)], [((1, 1), 0.0)]),
    "himmelblau": ([(-5, 5), (-5, 5)], [((3, 2), 0.0), ((-2.805118, 3.131313), 0.0),
                                        ((-3.779310, -3.283186), 0.0),
                                        ((3.584428, -1.848127), 0.0)]),
    "beale": ([(-4.5, 4.5), (-4.5, 4.5)], [((3, 0.5), 0.0)]),
    "booth": ([(-10, 10), (-10, 10)], [((1, 3), 0.0)]),
    "rastrigin": ([(-5.12, 5.12), (-5.12, 5.12)], [((0, 0), 0.0),
                                                   ((0.99496, 0.99496), 1.98992)]),
    "ackley": ([(-32.768, 32.768), (-32.768, 32.768)], [((0, 0), 0.0)]),
    "six_hump_camel": ([(-3, 3), (-2, 2)], [((0.089842, -0.712656), -1.031628),
                                            ((-0.089842, 0.712656), -1.031628),
                                            ((1.703607, -0.796084), -0.215464),
                                            ((-1.703607, 0.796084), -0.215464),
                                            ((1.607105, 0.568651), 2.104251),
                                            ((-1.607105, -0.568651), 2.104251)]),
    "goldstein_price": ([(-2, 2), (-2, 2)], [((0, -1), 3.0), ((-0.6, -0.4), 30.0),
                                             ((1.8, 0.2), 84.0), ((1.2, 0.8), 840.0)]),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_table_matches_reference(name: str) -> None:
    s = get_surface(name)
    domain, minima = REFERENCE[name]
    assert s.domain == tuple(tuple(float(v) for v in d) for d in domain)
    for point, value in minima:
        match = [m for m in s.minima if np.allclose(m[0], point, atol=1e-5)]
        assert len(match) == 1, (name, point)
        assert match[0][1] == pytest.approx(value, abs=1e-5)
    assert s.global_minimum[1] == pytest.approx(min(v for _, v in minima), abs=1e-5)


def test_peaks_other_points_match_reference() -> None:
    s = get_surface("peaks")
    maxima = [((-0.009318, 1.581368), 8.106214), ((-0.460025, -0.629197), 3.776581),
              ((1.285685, -0.004848), 3.592490)]
    for (p, v), (q, w) in zip(s.maxima, maxima, strict=True):
        np.testing.assert_allclose(p, q, atol=1e-6)
        assert v == pytest.approx(w, abs=1e-6)
    saddles = [(0.416323, -0.394145), (-0.265938, 0.466740), (1.098273, 0.854461)]
    for (p, _), q in zip(s.saddles, saddles, strict=True):
        np.testing.assert_allclose(p, q, atol=1e-6)
    assert s.maxima and get_surface("himmelblau").maxima[0][1] == pytest.approx(181.617, abs=1e-3)


def test_ackley_minimum_and_nan_gradient() -> None:
    f = get_surface("ackley").function
    assert float(f.value([0.0, 0.0])) == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.isnan(f.grad([0.0, 0.0])))
    assert float(f.value([1.0, 1.0])) > 3.0  # the funnel rises quickly away from 0


def test_one_dimensional_examples() -> None:
    parabola = get_surface("parabola_1d").function
    np.testing.assert_allclose(parabola.value(np.array([0.0, 0.5, 1.0])), [4.0, 3.25, 4.0])
    np.testing.assert_allclose(parabola.grad(np.array([0.0, 0.5])), [[-3.0], [0.0]])
    quartic = get_surface("quartic_1d")
    (p1, v1), (p2, v2) = quartic.minima
    # 4x^3 - 6x + 1 = 0 has three real roots: two minima and a maximum
    roots = np.sort(np.roots([4, 0, -6, 1]).real)
    np.testing.assert_allclose([p1[0], quartic.maxima[0][0][0], p2[0]], roots, atol=1e-9)
    assert v1 < v2  # different depths: the left one is global
    local = get_surface("local_minima_1d")
    assert local.maxima[0] == ((0.0,), 1.0)


def test_quadratic_bowl_parameters() -> None:
    s = get_surface("quadratic_bowl", condition_number=100.0, angle=np.pi / 6)
    H = s.function.hessian([0.3, -0.2])
    np.testing.assert_allclose(np.linalg.eigvalsh(H), [1.0, 100.0], rtol=1e-12)
    c, sn = np.cos(np.pi / 6), np.sin(np.pi / 6)
    np.testing.assert_allclose(H @ [c, sn], [c, sn], atol=1e-12)  # eigenvalue 1 along angle
    default = get_surface("quadratic_bowl")
    np.testing.assert_allclose(default.function.hessian([1.0, 1.0]), [[1.0, 0.0], [0.0, 10.0]])
    with pytest.raises(ValueError, match="'condition_number' parameter of quadratic_bowl"):
        get_surface("quadratic_bowl", condition_number=0.5)
    with pytest.raises(TypeError, match="unknown parameter"):
        get_surface("quadratic_bowl", kappa=3)
    with pytest.raises(TypeError, match="takes no parameters"):
        get_surface("peaks", condition_number=3)


def test_names_are_flexible_and_cached() -> None:
    assert get_surface("Six-Hump-Camel").name == "six_hump_camel"
    assert get_surface("GOLDSTEIN_PRICE") is get_surface("goldstein-price")
    assert isinstance(get_surface("peaks").function, SymbolicFunction)
    assert get_surface("peaks").function is get_surface("peaks").function
    with pytest.raises(ValueError, match="Unknown surface 'bogus'. Choose one of peaks"):
        get_surface("bogus")
    assert len(SURFACES) == 13
