"""Losses from logits: exact values, gradient checks, stability (hypothesis), reductions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import expit, softmax

from gdlab.core.gradcheck import check_gradient
from gdlab.core.losses import LOSSES, bce, cce, get_loss, mse, one_hot, softmax_bce, softmax_mse


def _targets(name: str, rng: np.random.Generator, m: int, K: int) -> np.ndarray:
    if name == "mse":
        return rng.normal(size=(m, K))
    if name == "bce":
        return rng.integers(0, 2, size=(m, K)).astype(float)
    return one_hot(rng.integers(0, K, size=m), K)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_finite_differences(name: str, reduction: str, weighted: bool,
                                             rng: np.random.Generator) -> None:
    m, K = 7, 3
    Y = _targets(name, rng, m, K)
    w = rng.uniform(0.1, 3.0, size=m) if weighted else None
    loss = get_loss(name)

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, d = loss(z.reshape(m, K), Y, reduction=reduction, sample_weight=w)
        return value, d.ravel()

    res = check_gradient(f, rng.normal(size=(m, K)).ravel() * 2)
    assert res.rel_error < 1e-7, res.rel_error


def test_exact_values() -> None:
    z = np.array([0.0, 2.0])
    y = np.array([1.0, 0.0])
    value, d = bce(z, y)
    assert value == pytest.approx((np.log(2) + np.log1p(np.exp(2.0))) / 2, rel=1e-15)
    np.testing.assert_allclose(d, (expit(z) - y) / 2, rtol=1e-15)
    value, d = mse(np.array([1.0, 3.0]), np.array([0.0, 0.0]), reduction="sum")
    assert value == 10.0 and d.tolist() == [2.0, 6.0]
    Z = np.array([[1000.0, 1001.0, 1002.0]])
    np.testing.assert_allclose(softmax(Z, axis=1), [[0.09003057, 0.24472847, 0.66524096]],
                               rtol=1e-7)
    value, d = cce(Z, np.array([2]))
    assert value == pytest.approx(-np.log(0.6652409557748219), rel=1e-12)


def test_labels_and_one_hot_agree(rng: np.random.Generator) -> None:
    Z = rng.normal(size=(6, 4))
    labels = rng.integers(0, 4, size=6)
    a = cce(Z, labels)
    b = cce(Z, one_hot(labels, 4))
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


def test_integer_weights_equal_repeated_rows(rng: np.random.Generator) -> None:
    Z = rng.normal(size=(5, 3))
    labels = rng.integers(0, 3, size=5)
    w = np.array([1, 3, 0, 2, 1])
    repeated = np.repeat(np.arange(5), w)
    weighted, _ = cce(Z, labels, sample_weight=w.astype(float))
    plain, _ = cce(Z[repeated], labels[repeated])
    assert weighted == pytest.approx(plain, rel=1e-14)


def test_softmax_losses_vanish_when_saturated() -> None:
    # a confidently wrong prediction: CCE still pushes hard, MSE-on-softmax hardly at all
    Z = np.array([[12.0, 0.0, 0.0]])
    y = np.array([1])
    g_cce = np.abs(cce(Z, y)[1]).max()
    g_mse = np.abs(softmax_mse(Z, y)[1]).max()
    assert g_cce > 0.99 and g_mse < 1e-4


finite_logits = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 5)),
                       elements=st.floats(-1000, 1000, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(finite_logits, st.randoms(use_true_random=False))
def test_extreme_logits_give_finite_losses(Z: np.ndarray, r: object) -> None:
    m, K = Z.shape
    labels = np.arange(m) % K
    for fn in (cce, softmax_mse, softmax_bce):
        value, d = fn(Z, labels)
        assert np.isfinite(value) and np.isfinite(d).all()
    value, d = bce(Z[:, 0], (labels % 2).astype(float))
    assert np.isfinite(value) and np.isfinite(d).all()


def test_plus_minus_1000() -> None:
    z = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    value, d = bce(z, y)
    assert value == pytest.approx(500.0) and np.isfinite(d).all()
    value, d = cce(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert value == pytest.approx(2000.0) and np.isfinite(d).all()


@settings(max_examples=200, deadline=None)
@given(finite_logits, st.floats(-500, 500))
def test_softmax_rows_sum_to_one_and_shift_invariant(Z: np.ndarray, c: float) -> None:
    P = softmax(Z, axis=1)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(softmax(Z + c, axis=1), P, atol=1e-12)
    labels = np.zeros(Z.shape[0], dtype=int)
    assert cce(Z + c, labels)[0] == pytest.approx(cce(Z, labels)[0], rel=1e-9, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.floats(-1000, 1000, allow_nan=False))
def test_sigmoid_symmetry(z: float) -> None:
    assert expit(-z) == pytest.approx(1 - expit(z), abs=1e-15)


def test_bad_input_messages() -> None:
    with pytest.raises(ValueError, match="reduction"):
        mse(np.zeros(2), np.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[3, 2\]"):
        mse(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="Class indices must lie in"):
        cce(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="sample_weight must be positive"):
        mse(np.zeros(2), np.zeros(2), sample_weight=np.zeros(2))
    with pytest.raises(ValueError, match="'loss' parameter must be one of"):
        get_loss("hinge")
