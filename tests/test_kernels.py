"""Fused gradient kernels equal the plain formula, finite differences, and each other."""

from __future__ import annotations

import numpy as np
import pytest
from _checks import close as _close
from _checks import on_one_thread
from _checks import rel as _rel
from scipy.special import expit, logsumexp

from gdlab.engines import kernels as kern
from gdlab.engines.kernels import (
    blocked_linear_loss_grad,
    blocked_softmax_loss_grad,
    linear_loss_grad,
    loss_grad,
    plain_linear_loss_grad,
    plain_softmax_loss_grad,
    softmax_loss_grad,
)


def _data(m, n, order, dtype, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = np.asarray((rng.standard_normal((m, n)) * scale).astype(dtype), order=order)
    return rng, X


# Sizes: m < one chunk and block, m not a multiple of 4 (the row-quad kernel), n = 1, and a
# case spanning several parallel chunks (CHUNK_BYTES = 4 MiB -> 20011 x 37 x 8 B = 2 chunks
# in float64) so the per-chunk partial sums are combined.
SIZES = [(1, 3), (7, 1), (1003, 5), (20011, 37)]


@pytest.mark.parametrize("m,n", SIZES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_linear_matches_plain(m, n, order, dtype, loss, weighted, reduction):
    rng, X = _data(m, n, order, dtype)
    y = rng.standard_normal(m) if loss == "mse" else (rng.random(m) < 0.4).astype(float)
    w = rng.standard_normal(n)
    s = rng.random(m) + 0.1 if weighted else None
    kw = dict(loss=loss, sample_weight=s, reduction=reduction)
    ref = plain_linear_loss_grad(X.astype(np.float64), y, w, 0.3, **kw)
    _close(linear_loss_grad(X, y, w, 0.3, **kw), ref, dtype)
    _close(blocked_linear_loss_grad(X, y, w, 0.3, **kw), ref, dtype)


@pytest.mark.parametrize("m,n", SIZES)
@pytest.mark.parametrize("K", [2, 10])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_matches_plain(m, n, K, order, dtype, weighted, reduction):
    rng, X = _data(m, n, order, dtype, seed=1)
    y = rng.integers(0, K, m)
    W = rng.standard_normal((n, K))
    b = rng.standard_normal(K)
    s = rng.random(m) + 0.1 if weighted else None
    kw = dict(sample_weight=s, reduction=reduction)
    ref = plain_softmax_loss_grad(X.astype(np.float64), y, W, b, **kw)
    _close(softmax_loss_grad(X, y, W, b, **kw), ref, dtype)
    _close(blocked_softmax_loss_grad(X, y, W, b, **kw), ref, dtype)


def test_plain_formulas_by_hand():
    """The reference itself against the definitions, written out in NumPy."""
    rng, X = _data(50, 4, "C", np.float64, seed=3)
    y = rng.standard_normal(50)
    w = rng.standard_normal(4)
    s = rng.random(50)
    z = X @ w + 0.5
    S = s.sum()
    value, g, gb = plain_linear_loss_grad(X, y, w, 0.5, sample_weight=s)
    np.testing.assert_allclose(value, np.sum(s * (z - y) ** 2) / S, rtol=1e-14)
    np.testing.assert_allclose(g, X.T @ (2 * s * (z - y)) / S, rtol=1e-13)
    np.testing.assert_allclose(gb, np.sum(2 * s * (z - y)) / S, rtol=1e-13)

    y01 = (rng.random(50) < 0.5) * 1.0
    value, g, gb = plain_linear_loss_grad(X, y01, w, 0.5, loss="bce", reduction="sum")
    np.testing.assert_allclose(value, np.sum(np.logaddexp(0, z) - y01 * z), rtol=1e-14)
    np.testing.assert_allclose(g, X.T @ (expit(z) - y01), rtol=1e-13)
    np.testing.assert_allclose(gb, np.sum(expit(z) - y01), rtol=1e-13)

    labels = rng.integers(0, 3, 50)
    W = rng.standard_normal((4, 3))
    b = rng.standard_normal(3)
    Z = X @ W + b
    value, G, gB = plain_softmax_loss_grad(X, labels, W, b, reduction="sum")
    np.testing.assert_allclose(value, np.sum(logsumexp(Z, axis=1) - Z[np.arange(50), labels]))
    P = np.exp(Z - logsumexp(Z, axis=1, keepdims=True)) - np.eye(3)[labels]
    np.testing.assert_allclose(G, X.T @ P, rtol=1e-12)
    np.testing.assert_allclose(gB, P.sum(axis=0), rtol=1e-12)


def _central_diff(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_linear_finite_differences(loss):
    rng, X = _data(41, 3, "C", np.float64, seed=4)
    y = rng.standard_normal(41) if loss == "mse" else (rng.random(41) < 0.5) * 1.0
    s = rng.random(41)
    theta = np.r_[rng.standard_normal(3), 0.2]

    def f(t):
        return linear_loss_grad(X, y, t[:3], t[3], loss=loss, sample_weight=s)[0]

    _, g, gb = linear_loss_grad(X, y, theta[:3], theta[3], loss=loss, sample_weight=s)
    np.testing.assert_allclose(np.r_[g, gb], _central_diff(f, theta), rtol=1e-6, atol=1e-9)


def test_softmax_finite_differences():
    rng, X = _data(33, 3, "C", np.float64, seed=5)
    y = rng.integers(0, 4, 33)
    W = rng.standard_normal((3, 4))
    b = rng.standard_normal(4)
    _, G, gb = softmax_loss_grad(X, y, W, b)
    np.testing.assert_allclose(
        G, _central_diff(lambda V: softmax_loss_grad(X, y, V, b)[0], W), rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(
        gb, _central_diff(lambda c: softmax_loss_grad(X, y, W, c)[0], b), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("order", ["C", "F"])
def test_extreme_logits_stay_finite(order):
    """Logits of +-1000: exp overflows at ~709, the stable forms must not."""
    rng, X = _data(203, 2, order, np.float64, seed=6)
    X[:, 0] = np.where(rng.random(203) < 0.5, 1.0, -1.0)
    X[:, 1] = 0.0
    w = np.array([1000.0, 0.0])
    z = X @ w
    y = (rng.random(203) < 0.5) * 1.0
    value, g, gb = linear_loss_grad(X, y, w, 0.0, loss="bce")
    # l = logaddexp(0, z) - y z is exactly 1000 for a wrong sign, 0 for a right one
    wrong = (z > 0) != (y > 0)
    assert value == pytest.approx(1000.0 * wrong.mean(), rel=1e-12)
    np.testing.assert_allclose(g, X.T @ ((z > 0) - y) / 203, atol=1e-15)
    assert np.isfinite(gb)

    labels = rng.integers(0, 3, 203)
    W = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0]])
    value, G, gB = softmax_loss_grad(X, labels, W, np.zeros(3))
    ref = plain_softmax_loss_grad(X, labels, W, np.zeros(3))
    assert np.isfinite(value) and np.isfinite(G).all() and np.isfinite(gB).all()
    assert value == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(G, ref[1], atol=1e-12)


def test_reference_softmax_example():
    """REFERENCE.md: softmax([1000, 1001, 1002]) = [0.090, 0.245, 0.665]."""
    X = np.ones((1, 1))
    W = np.array([[1000.0, 1001.0, 1002.0]])
    _, G, gb = softmax_loss_grad(X, np.array([2]), W, np.zeros(3))
    np.testing.assert_allclose(gb, [0.09003057, 0.24472847, 0.66524096 - 1.0], rtol=1e-7)


def test_kernel_is_deterministic_across_calls_and_thread_counts():
    pytest.importorskip("numba")
    rng, X = _data(20011, 37, "C", np.float64, seed=7)
    y = rng.standard_normal(20011)
    w = rng.standard_normal(37)
    first = linear_loss_grad(X, y, w, 0.1)
    one = on_one_thread(lambda: linear_loss_grad(X, y, w, 0.1))
    again = linear_loss_grad(X, y, w, 0.1)
    for a, b in ((first, one), (first, again)):
        assert a[0] == b[0] and a[2] == b[2]
        assert np.array_equal(a[1], b[1])


def test_strided_view_uses_numpy_path():
    rng, X = _data(300, 12, "C", np.float64, seed=8)
    view = X[::2, ::3]
    y = rng.standard_normal(150)
    w = rng.standard_normal(4)
    _close(linear_loss_grad(view, y, w, 0.0), plain_linear_loss_grad(view, y, w, 0.0),
           np.float64)


@pytest.mark.parametrize("head", ["mse", "bce", "cce"])
def test_dispatch_chooses_both_paths(head, monkeypatch):
    calls: list[str] = []
    for name in ("linear_loss_grad", "plain_linear_loss_grad", "softmax_loss_grad",
                 "plain_softmax_loss_grad"):
        real = getattr(kern, name)

        def spy(*a, _real=real, _name=name, **k):
            calls.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(kern, name, spy)
    rng = np.random.default_rng(9)
    K = 4 if head == "cce" else 1
    n = 3
    threshold = (kern.FUSED_MIN_SIZE_SOFTMAX if head == "cce"
                 else kern.linear_fused_min_size(np.empty((1, n))))
    for m in (threshold // n - 1, threshold // n + 1):
        X = rng.standard_normal((m, n))
        y = rng.integers(0, K, m) if head != "mse" else rng.standard_normal(m)
        W = rng.standard_normal((n, K))
        b = rng.standard_normal(K)
        value, G, gb = loss_grad(head, X, y, W, b)
        assert G.shape == (n, K) and gb.shape == (K,)
        if head == "cce":
            ref = plain_softmax_loss_grad(X, y, W, b)
            np.testing.assert_allclose(G, ref[1], rtol=1e-12)
        else:
            ref = plain_linear_loss_grad(X, y, W[:, 0], b[0], loss=head)
            np.testing.assert_allclose(G[:, 0], ref[1], rtol=1e-12)
        assert value == pytest.approx(ref[0], rel=1e-12)
    fused = "softmax_loss_grad" if head == "cce" else "linear_loss_grad"
    assert calls == ["plain_" + fused, fused]


def test_linear_fused_min_size():
    """Narrow X (<= 32 features) that a compiled narrow kernel takes switches to the fused
    pass at FUSED_MIN_SIZE_NARROW; wider X, strided views and no numba at FUSED_MIN_SIZE."""
    narrow = kern.FUSED_MIN_SIZE_NARROW if kern.HAVE_NUMBA else kern.FUSED_MIN_SIZE
    assert kern.FUSED_MIN_SIZE_NARROW < kern.FUSED_MIN_SIZE
    assert kern.linear_fused_min_size(np.empty((5, 32))) == narrow
    assert kern.linear_fused_min_size(np.empty((5, 10), order="F")) == narrow
    assert kern.linear_fused_min_size(np.empty((5, 33))) == kern.FUSED_MIN_SIZE
    assert kern.linear_fused_min_size(np.empty((5, 20))[::2]) == kern.FUSED_MIN_SIZE
    assert kern.linear_fused_min_size([[1, 2], [3, 4]]) == narrow  # array-like, as loss_grad
    with pytest.raises(ValueError, match="Expected 2-D array for X, got 1-D array"):
        kern.linear_fused_min_size(np.ones(5))


def test_dispatch_float32_and_column_y():
    rng, X = _data(60, 5, "F", np.float32, seed=10)
    y = rng.standard_normal((60, 1))
    W = rng.standard_normal((5, 1))
    value, G, gb = loss_grad("mse", X, y, W, np.array([0.1]))
    assert G.dtype == np.float32 and gb.dtype == np.float32
    ref = plain_linear_loss_grad(X.astype(np.float64), y[:, 0], W[:, 0], 0.1)
    assert _rel(G[:, 0], ref[1]) < 2e-5


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda X, y: loss_grad("hinge", X, y, np.ones((3, 1)), np.zeros(1)), "'head'"),
        (lambda X, y: loss_grad("mse", X, y, np.ones((3, 2)), np.zeros(2)), "head='cce'"),
        (lambda X, y: loss_grad("mse", X, y, np.ones((4, 1)), np.zeros(1)), "W must have"),
        (lambda X, y: loss_grad("mse", X, y, np.ones((3, 1)), np.zeros(2)), "b must have"),
        (lambda X, y: linear_loss_grad(X, y[:5], np.ones(3), 0.0), "inconsistent numbers"),
        (lambda X, y: linear_loss_grad(X, y, np.ones(3), 0.0, reduction="max"), "reduction"),
        (lambda X, y: linear_loss_grad(X, y, np.ones(3), 0.0, sample_weight=-np.ones(8)),
         ">= 0"),
        (lambda X, y: linear_loss_grad(X, y, np.ones(3), 0.0, sample_weight=np.zeros(8)),
         "sums to 0"),
        (lambda X, y: softmax_loss_grad(X, np.full(8, 3), np.ones((3, 3)), np.zeros(3)),
         r"labels in \[0, 3\)"),
        (lambda X, y: softmax_loss_grad(X, y + 0.5, np.ones((3, 3)), np.zeros(3)),
         "integer"),
        (lambda X, y: linear_loss_grad(X[0], y, np.ones(3), 0.0), "2-D"),
    ],
)
def test_errors_name_the_argument(call, match):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((8, 3))
    y = np.zeros(8)
    with pytest.raises(ValueError, match=match):
        call(X, y)


def test_sum_reduction_with_zero_weights_is_allowed():
    rng, X = _data(9, 2, "C", np.float64)
    value, g, gb = linear_loss_grad(X, np.zeros(9), np.ones(2), 0.0, sample_weight=np.zeros(9),
                                    reduction="sum")
    assert value == 0.0 and gb == 0.0 and not g.any()
