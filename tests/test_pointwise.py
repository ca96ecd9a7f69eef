"""One definition per formula: the point-wise loss steps and the optimizer rules of gdlab.core,
their values, and the compiled engine's use of them (the same functions, or a fused form held
to a stated tolerance)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit, logsumexp, softmax

from gdlab.core.models.glm import GLM, finish_flat
from gdlab.core.optim import rules
from gdlab.core.pointwise import bce_point, cce_point, mse_point


def _bce_cases() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.standard_normal(4_000) * 5.0, rng.uniform(-800.0, 800.0, 800),
                        np.linspace(-40.0, 40.0, 801)[:-1],
                        [0.0, -0.0, 1e-300, -1e-300, 745.0, -745.0, 1e300, -1e300]])
    y = rng.random(z.size)
    y[: z.size // 2] = np.round(y[: z.size // 2])
    return z, y


# ---- the reference steps, by hand and against independent formulas --------------------------
def test_mse_point_by_hand():
    loss, dz = mse_point(np.array([3.0, -1.0]), np.array([1.0, 0.5]))
    np.testing.assert_array_equal(loss, [4.0, 2.25])
    np.testing.assert_array_equal(dz, [4.0, -3.0])


def test_bce_point_by_hand():
    # z = 0: l = log 2, dl/dz = 1/2 - y; z = log 3 with y = 1: l = log(4/3), dl/dz = -1/4
    loss, dz = bce_point(np.array([0.0, 0.0, math.log(3.0)]), np.array([1.0, 0.0, 1.0]))
    np.testing.assert_allclose(loss, [math.log(2.0), math.log(2.0), math.log(4.0 / 3.0)],
                               rtol=1e-15)
    np.testing.assert_allclose(dz, [-0.5, 0.5, -0.25], rtol=0, atol=1e-16)


def test_bce_point_equals_logaddexp_and_expit():
    z, y = _bce_cases()
    loss, dz = bce_point(z, y)
    ref_l = np.logaddexp(0.0, z) - y * z
    scale = np.maximum(np.logaddexp(0.0, z), np.abs(y * z))  # the terms cancel for large z
    assert np.all(np.abs(loss - ref_l) <= 2 * np.spacing(scale) + 1e-320)
    assert np.max(np.abs(dz - (expit(z) - y))) <= 2 * np.spacing(1.0)


def test_bce_point_keeps_float32():
    loss, dz = bce_point(np.float32([2.0, -2.0]), np.float32([1.0, 0.0]))
    assert loss.dtype == dz.dtype == np.float32


def test_cce_point_by_hand_and_against_scipy():
    # two classes with logits (0, log 3): p = (1/4, 3/4)
    loss, dz = cce_point(np.array([[0.0, math.log(3.0)]]), np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(loss, [math.log(4.0 / 3.0)], rtol=1e-15)
    np.testing.assert_allclose(dz, [[0.25, -0.25]], rtol=0, atol=1e-16)
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((500, 7)) * 30.0
    Y = rng.dirichlet(np.ones(7), 500)  # probabilities too
    loss, dz = cce_point(Z, Y)
    ref = logsumexp(Z, axis=1) - np.einsum("ij,ij->i", Y, Z)
    np.testing.assert_allclose(loss, ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dz, softmax(Z, axis=1) - Y, rtol=0, atol=1e-15)


# ---- the rules: one step by hand; on an array = on each element ------------------------------
def _adam(g, theta, mu, nu, nu_max, lr, t, beta1, *hp):  # type: ignore[no-untyped-def]
    """adam_rule at step t (its bias corrections from adam_scales, as Adam._update does)."""
    scales = rules.adam_scales(lr, t, beta1, hp[0])
    return rules.adam_rule(g, theta, mu, nu, nu_max, lr, *scales, beta1, *hp)


def test_adam_rule_first_step_by_hand():
    # step 1 from zero state: mu = 0.1 g, nu = 0.001 g^2, bias-corrected to g and g^2, so the
    # update is -lr g / (|g| + eps)
    g = np.array([0.5, -2.0])
    upd, mu, nu, _ = _adam(g, np.zeros(2), np.zeros(2), np.zeros(2), 0.0, 0.1, 1, 0.9, 0.999,
                           1e-8, 0.0, False, False)
    np.testing.assert_allclose(mu, 0.1 * g, rtol=1e-15)
    np.testing.assert_allclose(nu, 0.001 * g * g, rtol=1e-12)
    np.testing.assert_allclose(upd, -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_momentum_rules_by_hand():
    # lesson: v = 0.9 * 1 - 0.1 * 2 = 0.7; nesterov: 0.9 * 0.7 - 0.1 * 2 = 0.43
    assert rules.momentum_lesson_rule(2.0, 0.0, 1.0, 0.1, 0.9, False, 0.0) == (0.7, 0.7)
    upd, v = rules.momentum_lesson_rule(2.0, 0.0, 1.0, 0.1, 0.9, True, 0.0)
    assert v == 0.7 and upd == pytest.approx(0.43, rel=1e-15)
    # torch: b_1 = g; later b = 0.9 b + (1 - 0.5) g; weight decay adds 0.1 * theta to g
    assert rules.momentum_torch_rule(2.0, 0.0, 5.0, 0.1, 1, 0.9, 0.5, False, 0.0) == (-0.2, 2.0)
    upd, b = rules.momentum_torch_rule(2.0, 10.0, 1.0, 0.1, 2, 0.9, 0.5, False, 0.1)
    assert b == pytest.approx(0.9 + 0.5 * 3.0) and upd == pytest.approx(-0.1 * b)


def test_torch_momentum_first_buffer_is_a_new_array():
    g = np.array([1.0, 2.0])
    _, b = rules.momentum_torch_rule(g, np.zeros(2), np.zeros(2), 0.1, 1, 0.9, 0.0, False, 0.0)
    g[0] = 99.0
    np.testing.assert_array_equal(b, [1.0, 2.0])


RULE_CASES = {
    "gd-wd": (rules.gd_rule, 0, (0.05,)),
    "lesson-nesterov": (rules.momentum_lesson_rule, 1, (0.9, True, 0.01)),
    "torch-t1": (rules.momentum_torch_rule, 1, (1, 0.9, 0.3, False, 0.01)),
    "torch-nesterov": (rules.momentum_torch_rule, 1, (4, 0.9, 0.0, True, 0.0)),
    "adagrad": (rules.adagrad_rule, 1, (3, 1e-10, False, 0.1, 0.01)),
    "adagrad-inside": (rules.adagrad_rule, 1, (3, 1e-8, True, 0.0, 0.0)),
    "rmsprop-centered-momentum": (rules.rmsprop_rule, 3, (0.99, 1e-8, False, True, 0.9, 0.01)),
    "rmsprop-lesson": (rules.rmsprop_rule, 3, (0.9, 1e-8, True, False, 0.0, 0.0)),
    "adam-coupled": (_adam, 3, (7, 0.9, 0.999, 1e-8, 0.01, False, False)),
    "adamw-amsgrad": (_adam, 3, (7, 0.9, 0.999, 1e-8, 0.01, True, True)),
    "adam-beta1-small": (_adam, 3, (2, 0.3, 0.999, 1e-8, 0.0, False, True)),
}


def _rule_inputs(n_buffers: int, size: int = 64) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(n_buffers)
    g, theta = rng.standard_normal(size), rng.standard_normal(size)
    buffers = [np.abs(rng.standard_normal(size)) for _ in range(n_buffers)]
    return (g, theta, *buffers)


def _call(rule, arrays, lr, hp):  # type: ignore[no-untyped-def]
    """The rule with gdlab's argument order: arrays, lr, then the step and hyperparameters."""
    out = rule(*arrays, lr, *hp)
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("case", sorted(RULE_CASES))
def test_rule_on_an_array_equals_the_rule_per_element(case):
    rule, n_buffers, hp = RULE_CASES[case]
    arrays = _rule_inputs(n_buffers)
    with np.errstate(invalid="ignore"):  # centered RMSprop: nu - mu^2 < 0 for some buffers
        whole = _call(rule, arrays, 0.01, hp)
    for p in range(arrays[0].size):
        with np.errstate(invalid="ignore"):
            one = _call(rule, tuple(a[p] for a in arrays), 0.01, hp)
        for got, ref in zip(one, whole, strict=True):
            # NaN where a random buffer makes sqrt's argument negative: equal NaN too
            np.testing.assert_array_equal(got, np.broadcast_to(ref, arrays[0].shape)[p])


def test_finish_flat_is_the_glm_penalty_and_intercept_rule():
    model = GLM(3, 2, "cce", fit_intercept=False)
    theta = np.arange(8.0)
    g = np.ones(8)
    loss = finish_flat(1.0, g, theta, 6, 0.5, False)
    # alpha / 2 ||W||^2 = 0.25 * (0 + 1 + 4 + 9 + 16 + 25) = 13.75; biases zeroed
    assert loss == 14.75
    np.testing.assert_array_equal(g, [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 0.0, 0.0])
    p_loss, p_grad = model.penalty(theta, 0.5)
    assert p_loss == 13.75
    np.testing.assert_array_equal(p_grad, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 0.0, 0.0])


# ---- the compiled engine: the same functions, or a fused form within a stated tolerance -------
numba = pytest.importorskip("numba")

from gdlab.engines.kernels import _formulas_nb  # noqa: E402  (needs numba)
from gdlab.engines.kernels._pointwise_nb import point8, pointwise_one  # noqa: E402


@numba.njit(error_model="numpy")
def _rows_one(head, z, y, loss, dz):  # type: ignore[no-untyped-def]
    for i in range(z.size):
        loss[i], dz[i] = pointwise_one(head, z[i], y[i])


@numba.njit(error_model="numpy")
def _rows_eight(head, z, y, loss, dz):  # type: ignore[no-untyped-def]
    for i in range(0, z.size, 8):
        o = point8(head, (z[i], z[i + 1], z[i + 2], z[i + 3], z[i + 4], z[i + 5], z[i + 6],
                          z[i + 7]),
                   (y[i], y[i + 1], y[i + 2], y[i + 3], y[i + 4], y[i + 5], y[i + 6], y[i + 7]))
        for u in range(8):
            loss[i + u] = o[u]
            dz[i + u] = o[8 + u]


@pytest.mark.parametrize("rows", [_rows_one, _rows_eight])
def test_compiled_mse_is_the_reference_bit_for_bit(rows):
    z, y = _bce_cases()
    loss, dz = np.empty_like(z), np.empty_like(z)
    rows(0, z, y, loss, dz)
    with np.errstate(over="ignore"):  # (1e300 - y)^2 overflows to inf, in both
        ref_l, ref_d = mse_point(z, y)
    np.testing.assert_array_equal(loss, ref_l)
    np.testing.assert_array_equal(dz, ref_d)


@pytest.mark.parametrize("rows", [_rows_one, _rows_eight])
def test_compiled_bce_within_two_ulp_of_the_reference(rows):
    # the compiled BCE (_bce_row, bce8) uses polynomial exp and log1p instead of the ufuncs
    z, y = _bce_cases()
    loss, dz = np.empty_like(z), np.empty_like(z)
    rows(1, z, y, loss, dz)
    ref_l, ref_d = bce_point(z, y)
    scale = np.maximum(np.logaddexp(0.0, z), np.abs(y * z))
    assert np.all(np.abs(loss - ref_l) <= 2 * np.spacing(scale) + 1e-320)
    assert np.max(np.abs(dz - ref_d)) <= 2 * np.spacing(1.0)


@numba.njit
def _rule_per_element(case, g, theta, b1, b2, b3, lr, yes, no, out):  # type: ignore[no-untyped-def]
    """The compiled rules as fastepoch calls them: on scalars, element by element, with the
    flags as run-time values (yes=True, no=False), as fastepoch reads them from an array."""
    for p in range(g.size):
        if case == 0:
            s, c = _formulas_nb.adam_scales(lr, 7.0, 0.9, 0.999)
            u, m, v, vm = _formulas_nb.adam_rule(g[p], theta[p], b1[p], b2[p], b3[p], lr, s, c,
                                                 0.9, 0.999, 1e-8, 0.01, yes, yes)
            out[0, p], out[1, p], out[2, p], out[3, p] = u, m, v, vm
        elif case == 1:
            s, c = _formulas_nb.adam_scales(lr, 3.0, 0.3, 0.99)
            u, m, v, vm = _formulas_nb.adam_rule(g[p], theta[p], b1[p], b2[p], 0.0, lr, s, c,
                                                 0.3, 0.99, 1e-8, 0.02, no, no)
            out[0, p], out[1, p], out[2, p] = u, m, v
        elif case == 2:
            out[0, p], out[1, p] = _formulas_nb.momentum_torch_rule(
                g[p], theta[p], b1[p], lr, 5.0, 0.9, 0.25, no, 0.01)
        elif case == 3:
            out[0, p], out[1, p] = _formulas_nb.momentum_lesson_rule(
                g[p], theta[p], b1[p], lr, 0.9, yes, 0.01)
        else:
            out[0, p] = _formulas_nb.gd_rule(g[p], theta[p], lr, 0.05)


@pytest.mark.parametrize("case", range(5))
def test_compiled_rules_equal_the_numpy_rules_bit_for_bit(case):
    g, theta, b1, b2, b3 = _rule_inputs(3)
    out = np.zeros((4, g.size))
    _rule_per_element(case, g, theta, b1, b2, b3, 0.01, True, False, out)
    if case == 0:
        ref = _adam(g, theta, b1, b2, b3, 0.01, 7, 0.9, 0.999, 1e-8, 0.01, True, True)
    elif case == 1:
        ref = _adam(g, theta, b1, b2, 0.0, 0.01, 3, 0.3, 0.99, 1e-8, 0.02, False, False)[:3]
    elif case == 2:
        ref = rules.momentum_torch_rule(g, theta, b1, 0.01, 5, 0.9, 0.25, False, 0.01)
    elif case == 3:
        ref = rules.momentum_lesson_rule(g, theta, b1, 0.01, 0.9, True, 0.01)
    else:
        ref = (rules.gd_rule(g, theta, 0.01, 0.05),)
    for k, r in enumerate(ref):
        np.testing.assert_array_equal(out[k], r)


@numba.njit
def _finish_compiled(loss, g, theta, nk, alpha, fit_intercept):  # type: ignore[no-untyped-def]
    return _formulas_nb.finish_flat(loss, g, theta, nk, alpha, fit_intercept)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_compiled_finish_equals_the_glm(fit_intercept):
    rng = np.random.default_rng(1)
    theta, g = rng.standard_normal(33), rng.standard_normal(33)
    g_ref = g.copy()
    got = _finish_compiled(0.25, g, theta, 30, 0.3, fit_intercept)
    ref = finish_flat(0.25, g_ref, theta, 30, 0.3, fit_intercept)
    np.testing.assert_array_equal(g, g_ref)
    assert got == pytest.approx(ref, rel=1e-15)  # ||W||^2 by numba's BLAS dot
