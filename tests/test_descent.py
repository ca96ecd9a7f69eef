"""gdlab.functions.descent: minimize, many starts as one batch, critical points, basins."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.core.optim import Adam
from gdlab.functions.descent import (
    DIVERGED,
    ESCAPED,
    NOT_CONVERGED,
    basins,
    critical_points,
    grid_starts,
    minimize,
    minimize_many,
)
from gdlab.functions.surfaces import get_surface
from gdlab.functions.symbolic import ExpressionError, compile_function

PEAKS_MINIMA = [((0.228279, -1.625535), -6.551133), ((-1.347396, 0.204519), -3.049849),
                ((0.296446, 0.320196), -0.064936)]


# -- one start ---------------------------------------------------------------------------------


def test_gd_on_parabola_matches_closed_form() -> None:
    # f = 3x^2 - 3x + 4, f' = 6x - 3: x_{k+1} - 0.5 = (1 - 6 lr)(x_k - 0.5)
    lr, x0 = 0.05, 2.0
    r = minimize("3*x^2 - 3*x + 4", x0, lr=lr, steps=20, tol=0.0)
    k = np.arange(21)
    expected = 0.5 + (x0 - 0.5) * (1 - 6 * lr) ** k
    np.testing.assert_allclose(r.points[:, 0], expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(r.values, 3 * expected**2 - 3 * expected + 4, atol=1e-13)
    np.testing.assert_allclose(r.grad_norms, np.abs(6 * expected - 3), atol=1e-13)
    np.testing.assert_array_equal(r.lrs, np.full(20, lr))
    assert r.status == "step_limit" and r.n_steps == 20
    assert r.points.shape == (21, 1) and r.x.shape == (1,)


def test_converged_stops_at_tolerance() -> None:
    r = minimize("parabola_1d", 2.0, lr=0.05, tol=1e-6, steps=10_000)
    assert r.status == "converged"
    # |f'(x_k)| = 6 * 1.5 * 0.7^k <= 1e-6 first at k = ceil(log(1e-6/9)/log(0.7))
    assert r.n_steps == int(np.ceil(np.log(1e-6 / 9) / np.log(0.7)))
    assert r.grad_norm <= 1e-6 < r.grad_norms[-2]
    assert abs(r.x[0] - 0.5) < 1e-6


def test_peaks_each_minimum_reached_by_adam() -> None:
    for (pt, val), start in zip(PEAKS_MINIMA, [(0.5, -1.2), (-1.0, 0.0), (0.3, 0.4)],
                                strict=True):
        r = minimize("peaks", start, optimizer="adam", lr=0.02, steps=5000)
        assert r.status == "converged", r.legend
        np.testing.assert_allclose(r.x, pt, atol=1e-5)
        assert r.value == pytest.approx(val, abs=1e-6)


def test_diverges_when_lr_too_large() -> None:
    # plain GD on x^2 is stable only for lr < 2 / f'' = 1
    r = minimize("x^2", 3.0, lr=1.1, steps=5000)
    assert r.status == "diverged"
    assert np.abs(r.x[0]) > 1e12
    assert minimize("x^2", 3.0, lr=0.9, steps=5000).status == "converged"


def test_non_finite_value_is_diverged() -> None:
    # log(x) is undefined for x < 0: a step across 0 yields NaN
    r = minimize("log(x) + x^2", 0.1, lr=1.0, steps=10)
    assert r.status == "diverged"
    assert np.isnan(r.value)


def test_left_domain_and_surface_default_domain() -> None:
    # on the plateau of peaks near the corner the descent drifts outward and leaves the box
    r = minimize("peaks", (1.5, 2.5), lr=0.05, steps=20_000)
    assert r.status == "left_domain" and r.n_steps == 97
    assert np.any(np.abs(r.x) > 3.0)
    assert np.all(np.abs(r.points[:-1]) <= 3.0)
    unbounded = minimize("peaks", (1.5, 2.5), lr=0.05, steps=r.n_steps, domain="unbounded")
    assert unbounded.status == "step_limit"
    np.testing.assert_array_equal(unbounded.x, r.x)


def test_three_dimensional_quadratic() -> None:
    # f = x^2 + 2 y^2 + 3 z^2 + xy: gradient A p with A = [[2,1,0],[1,4,0],[0,0,6]]
    r = minimize("x^2 + 2*y^2 + 3*z^2 + x*y", [1.0, -2.0, 0.5], optimizer="momentum", lr=0.05,
                 steps=5000, tol=1e-10)
    assert r.status == "converged"
    np.testing.assert_allclose(r.x, 0.0, atol=1e-10)
    assert r.points.shape[1] == 3


def test_callable_function_and_optimizer_object() -> None:
    A = np.diag([1.0, 10.0])

    def quad(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 0.5 * np.einsum("...i,ij,...j->...", P, A, P), P @ A

    r = minimize(quad, [1.0, 1.0], optimizer=Adam(beta1=0.8), lr=0.01, steps=3000)
    assert r.status == "converged"
    np.testing.assert_allclose(r.x, 0.0, atol=1e-7)
    assert r.optimizer == "adam"
    s = minimize("0.5*(x^2 + 10*y^2)", [1.0, 1.0], optimizer=Adam(beta1=0.8), lr=0.01,
                 steps=3000)
    np.testing.assert_allclose(s.points, r.points, rtol=0, atol=1e-12)


def test_schedule_dynamic_and_grad_scaled_rates() -> None:
    r = minimize("x^2 + y^2", [1.0, 2.0], lr=0.1, schedule="dynamic", steps=0)
    assert r.lrs.size == 0
    # a schedule given by name takes its horizon from `steps`
    r = minimize("x^2 + y^2", [1.0, 2.0], lr=0.1, schedule="dynamic", steps=10, tol=0)
    np.testing.assert_allclose(r.lrs, 0.1 * (1 - np.arange(10) / 10), rtol=1e-15)
    r = minimize("x^2 + y^2", [1.0, 2.0], lr=0.1, schedule="exponential", steps=10, tol=0)
    assert r.lrs[-1] == pytest.approx(0.1 * 0.01 ** 0.9)
    with pytest.raises(ValueError, match="plateau"):
        minimize("x^2 + y^2", [1.0, 2.0], schedule="plateau")
    from gdlab.core.schedules import DynamicLR

    r = minimize("x^2 + y^2", [1.0, 2.0], lr=0.1, schedule=DynamicLR(10), steps=10, tol=0)
    np.testing.assert_allclose(r.lrs, 0.1 * (1 - np.arange(10) / 10), rtol=1e-15)
    # grad-scaled: lr_k = lr * |grad f(x_k)|; for GD on x^2+y^2, x_{k+1} = x_k (1 - 2 lr_k)
    g = minimize("x^2 + y^2", [1.0, 2.0], lr=0.1, lr_mode="grad_scaled", steps=5, tol=0)
    np.testing.assert_allclose(g.lrs, 0.1 * g.grad_norms[:-1], rtol=1e-15)
    np.testing.assert_allclose(g.points[1:], g.points[:-1] * (1 - 2 * g.lrs)[:, None],
                               rtol=1e-14)
    assert "grad-scaled" in g.label and "dynamiclr" in r.label


def test_float32_stays_float32() -> None:
    r = minimize("x^2 + 3*y^2", np.array([1.0, 1.0], dtype=np.float32), lr=0.1, steps=50)
    assert r.points.dtype == np.float32 and r.x.dtype == np.float32
    r64 = minimize("x^2 + 3*y^2", [1.0, 1.0], lr=0.1, steps=50)
    np.testing.assert_allclose(r.points, r64.points, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x0": [1.0]}, "must have 2 coordinate"),
        ({"x0": [1.0, 2.0, 3.0]}, "must have 2 coordinate"),
        ({"x0": ["a", "b"]}, "x0"),
        ({"x0": [9.0, 0.0]}, "inside the domain"),
        ({"x0": [0.0, 0.0], "lr": -1}, "'lr' parameter of minimize"),
        ({"x0": [0.0, 0.0], "steps": 1.5}, "'steps' parameter"),
        ({"x0": [0.0, 0.0], "lr_mode": "wild"}, "'lr_mode'"),
        ({"x0": [0.0, 0.0], "optimizer": "lbfgs"}, "Unknown optimizer"),
        ({"x0": [0.0, 0.0], "domain": [(1, 0), (0, 1)]}, "'domain' parameter"),
        ({"x0": [np.nan, 0.0]}, "finite"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        minimize("peaks", **kwargs)


def test_bad_expression_is_expression_error() -> None:
    with pytest.raises(ExpressionError):
        minimize("x^^2", 1.0)
    with pytest.raises(TypeError, match="surface name"):
        minimize(42, 1.0)


# -- many starts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov", "adagrad", "rmsprop",
                                       "adam"])
@pytest.mark.parametrize("lr_mode", ["fixed", "grad_scaled"])
def test_batched_equals_one_by_one(optimizer: str, lr_mode: str) -> None:
    rng = np.random.default_rng(7)
    S = rng.uniform(-3, 3, (16, 2))
    m = minimize_many("peaks", S, optimizer=optimizer, lr=0.05, steps=300, lr_mode=lr_mode,
                      tol=1e-6, record=[0, 5, 11])
    statuses = set()
    for i, s in enumerate(S):
        r = minimize("peaks", s, optimizer=optimizer, lr=0.05, steps=300, lr_mode=lr_mode,
                     tol=1e-6)
        statuses.add(r.status)
        assert (m.status[i], m.n_steps[i]) == (r.status, r.n_steps)
        np.testing.assert_array_equal(m.x[i], r.x)  # bit for bit
        assert m.value[i] == r.value or (np.isnan(m.value[i]) and np.isnan(r.value))
        if i in m.recorded:
            np.testing.assert_array_equal(m.recorded[i].points, r.points)
            np.testing.assert_array_equal(m.recorded[i].lrs, r.lrs)
    assert len(statuses) >= 2  # the batch really mixes starts that stop at different steps


def test_batched_mixed_divergence_and_schedule() -> None:
    # GD on x^2 with a decaying rate: large starts diverge early, others keep going
    S = np.array([[0.5], [3.0], [1e11], [-2.0]])
    from gdlab.core.schedules import ExponentialLR

    sched = ExponentialLR(gamma=0.999)
    m = minimize_many("x^2", S, lr=1.2, schedule=sched, steps=300, record=True)
    for i, s in enumerate(S):
        r = minimize("x^2", s, lr=1.2, schedule=sched, steps=300)
        assert m.status[i] == r.status and m.n_steps[i] == r.n_steps
        np.testing.assert_array_equal(m.recorded[i].points, r.points)
    assert m.status[2] == "diverged" and m.n_steps[2] < m.n_steps[0]
    assert set(m.shares()) == {"converged", "step_limit", "diverged", "left_domain"}


def test_minimize_many_shapes_and_errors() -> None:
    m = minimize_many("quartic_1d", np.linspace(-2, 2, 9), lr=0.01, steps=2000)
    assert m.x.shape == (9, 1) and m.status.shape == (9,)
    left = m.x[:4, 0]
    np.testing.assert_allclose(left, -1.3008395659, atol=1e-7)
    with pytest.raises(ValueError, match=r"shape \(n_starts, 2\)"):
        minimize_many("peaks", np.zeros((4, 3)))
    with pytest.raises(ValueError, match="record"):
        minimize_many("peaks", np.zeros((4, 2)), record=[7])


# -- critical points and basins -------------------------------------------------------------------


def test_critical_points_peaks_to_1e4() -> None:
    crit = critical_points("peaks")
    minima = [c for c in crit if c.kind == "minimum"]
    assert len(minima) == 3
    for c, (pt, val) in zip(minima, PEAKS_MINIMA, strict=True):
        np.testing.assert_allclose(c.point, pt, atol=1e-4)
        assert c.value == pytest.approx(val, abs=1e-4)
        # 2 / lambda_max from the Hessian
        lam = np.linalg.eigvalsh(get_surface("peaks").function.hessian(c.point))
        assert c.max_stable_lr == pytest.approx(2 / lam[-1], rel=1e-9)
    assert sum(c.kind == "maximum" for c in crit) == 3
    assert sum(c.kind == "saddle" for c in crit) == 3


def test_critical_points_of_expression_need_domain() -> None:
    with pytest.raises(ValueError, match="'domain' parameter is required"):
        critical_points("x^2 - y^2")
    (c,) = critical_points("x^2 - y^2", domain=[(-1, 1), (-1, 1)])
    assert c.kind == "saddle" and np.allclose(c.point, 0)


def test_max_stable_lr_is_the_gd_threshold() -> None:
    # 2/lambda_max at the global minimum of peaks: just below it GD converges there, just
    # above it oscillates away
    c = critical_points("peaks")[0]
    lr_max = c.max_stable_lr
    start = np.asarray(c.point) + 1e-3
    assert minimize("peaks", start, lr=0.97 * lr_max, steps=3000, tol=1e-6).status == "converged"
    r = minimize("peaks", start, lr=1.03 * lr_max, steps=3000, tol=1e-6)
    assert r.status == "step_limit" and np.linalg.norm(r.x - c.point) > 1e-2


def test_basins_peaks_coarse_grid() -> None:
    b = basins("peaks", grid=41, lr=0.05, steps=5000)
    assert len(b.minima) == 3
    for c, (pt, _) in zip(b.minima, PEAKS_MINIMA, strict=True):
        np.testing.assert_allclose(c.point, pt, atol=1e-4)
    assert sum(b.shares.values()) == pytest.approx(1.0)
    # REFERENCE section 4 (121 grid): 27.9 / 25.1 / 6.9 % and 40.1 % escaped or stuck
    shares = [np.mean(b.labels == i) for i in range(3)]
    np.testing.assert_allclose(shares, [0.279, 0.251, 0.069], atol=0.03)
    stuck = np.mean(np.isin(b.labels, [NOT_CONVERGED, ESCAPED]))
    assert stuck == pytest.approx(0.401, abs=0.03)
    assert not np.any(b.labels == DIVERGED)
    # every start labelled with a minimum really ended there
    for i in range(3):
        ends = b.descent.x[b.labels == i]
        assert np.max(np.linalg.norm(ends - b.minima[i].point, axis=1)) < 1e-4
    rows = b.rows()
    assert rows[0]["max_stable_lr"] == pytest.approx(b.minima[0].max_stable_lr)
    assert b.grid_shape == (41, 41) and b.starts.shape == (41 * 41, 2)


@pytest.mark.slow
def test_basins_peaks_reference_grid() -> None:
    b = basins("peaks", grid=121, lr=0.05, steps=5000)
    shares = [np.mean(b.labels == i) for i in range(3)]
    np.testing.assert_allclose(shares, [0.279, 0.251, 0.069], atol=0.01)
    stuck = np.mean(np.isin(b.labels, [NOT_CONVERGED, ESCAPED]))
    assert stuck == pytest.approx(0.401, abs=0.01)


def test_basins_one_dimensional_and_explicit_starts() -> None:
    b = basins("local_minima_1d", grid=81, lr=0.01, steps=3000)
    assert len(b.minima) == 4
    # x = 0 is a maximum with zero gradient: GD never moves, an outcome of its own
    mid = np.flatnonzero(np.isclose(b.starts[:, 0], 0.0))
    assert b.outcome_name(int(b.labels[mid[0]])) == "saddle or maximum"
    f = compile_function("(x^2 - 1)^2 + y^2")
    rng = np.random.default_rng(0)
    S = rng.uniform(-2, 2, (300, 2))
    b2 = basins(f, starts=S, domain=[(-2.5, 2.5), (-2.5, 2.5)], lr=0.02, steps=3000)
    assert b2.grid_shape is None
    on_right = S[:, 0] > 0.05
    right = [i for i, c in enumerate(b2.minima) if c.point[0] > 0][0]
    np.testing.assert_array_equal(b2.labels[on_right], right)


def test_grid_starts_order() -> None:
    G = grid_starts([(0, 1), (10, 12)], 3)
    assert G.shape == (9, 2)
    np.testing.assert_array_equal(G[:3], [[0, 10], [0, 11], [0, 12]])
