"""The compiled softmax + CCE pass (BLAS on row blocks, polynomial exp) equals the plain formula."""

from __future__ import annotations

import numpy as np
import pytest
from _checks import close as _close
from _checks import on_one_thread

from gdlab.engines import kernels as kern
from gdlab.engines.kernels import plain_softmax_loss_grad, softmax_loss_grad

numba = pytest.importorskip("numba")

from gdlab.engines.kernels import _softmax_nb as snb  # noqa: E402  (needs numba)

pytestmark = pytest.mark.numba  # the compiled engine's own tests


def _problem(m, n, K, dtype=np.float64, seed=0, scale=1.0, order="C"):
    rng = np.random.default_rng(seed)
    X = np.asarray(rng.standard_normal((m, n)).astype(dtype), order=order)
    W = (rng.standard_normal((n, K)) * scale).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    y = rng.integers(0, K, m)
    return rng, X, y, W, b


# (m, n, K): two rows; K = 2; n*K where a block is 16 rows (n K = 16384); K not a multiple of
# 4 or 8; m not a multiple of the block (262 rows for n K = 1000) and one row more than a
# block; K = 50 (blocks of 52 rows); 20011 x 37 spans two 4 MiB chunks in float64.
SHAPES = [(2, 3, 2), (5, 2, 7), (40, 1024, 16), (263, 100, 10), (1001, 13, 3), (787, 20, 50),
          (20011, 37, 5)]


@pytest.mark.parametrize("m,n,K", SHAPES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_compiled_pass_matches_plain(m, n, K, order, dtype, weighted, reduction):
    assert snb.suits(m, n, K)  # these shapes run the compiled pass (C or Fortran kernel)
    rng, X, y, W, b = _problem(m, n, K, dtype, seed=m + K, order=order)
    assert X.flags.c_contiguous == (order == "C")
    s = rng.random(m) + 0.1 if weighted else None
    got = softmax_loss_grad(X, y, W, b, sample_weight=s, reduction=reduction)
    ref = plain_softmax_loss_grad(X, y, W, b, sample_weight=s, reduction=reduction)
    _close(got, ref, dtype)


@pytest.mark.parametrize("order", ["C", "F"])
def test_partials_per_chunk_add_up_to_the_gradient(order):
    rng, X, y, W, b = _problem(20011, 37, 6, seed=3, order=order)
    s = rng.random(20011)
    nchunks = kern._n_chunks(X)
    assert nchunks == 2
    P, losses = snb.softmax_c_nb(X, y, W, b, s, nchunks)
    assert P.shape == (2, 6, 38) and losses.shape == (2,)
    value, G, gb = plain_softmax_loss_grad(X, y, W, b, sample_weight=s, reduction="sum")
    total = P.sum(axis=0)
    np.testing.assert_allclose(total[:, :37].T, G, rtol=1e-12, atol=1e-12 * np.abs(G).max())
    np.testing.assert_allclose(total[:, 37], gb, rtol=1e-12, atol=1e-12 * np.abs(gb).max())
    np.testing.assert_allclose(losses.sum(), value, rtol=1e-12)
    # chunk 0 alone is the gradient of its rows
    half = 20011 // 2
    v0, G0, _ = plain_softmax_loss_grad(X[:half], y[:half], W, b, sample_weight=s[:half],
                                        reduction="sum")
    np.testing.assert_allclose(P[0, :, :37].T, G0, rtol=1e-12, atol=1e-12 * np.abs(G0).max())
    np.testing.assert_allclose(losses[0], v0, rtol=1e-12)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_logits_are_stable(dtype, order):
    # logits of about +-1000: exp(z) overflows without the row-max shift, and most
    # probabilities underflow to 0 (exactly one-hot rows)
    rng, X, y, W, b = _problem(600, 8, 5, dtype, seed=5, scale=300.0, order=order)
    Z = X.astype(np.float64) @ W.astype(np.float64)
    assert np.abs(Z).max() > 1000
    got = softmax_loss_grad(X, y, W, b)
    ref = plain_softmax_loss_grad(X, y, W, b)
    assert np.all(np.isfinite(got[1])) and np.all(np.isfinite(got[2]))
    _close(got, ref, dtype)


def test_two_classes_with_a_tie_and_a_huge_gap():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    W = np.array([[800.0, -800.0], [0.0, 0.0]])
    b = np.zeros(2)
    y = np.array([1, 0, 0])
    value, G, gb = softmax_loss_grad(X, y, W, b, reduction="sum")
    # row 0: z = (800, -800), y = 1 -> loss 1600, dL/dz = (1, -1); row 1: tie -> log 2,
    # dL/dz = (-1/2, 1/2); row 2: z = (800, -800), y = 0 -> loss 0 (exp(-1600) = 0)
    assert value == pytest.approx(1600.0 + np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(G, [[1.0, -1.0], [-0.5, 0.5]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(gb, [0.5, -0.5], rtol=0, atol=1e-15)


def test_strided_view_takes_the_numpy_path():
    rng, X, y, W, b = _problem(300, 12, 4, seed=8)
    view = X[::2, ::3]
    assert not (view.flags.c_contiguous or view.flags.f_contiguous)
    _close(softmax_loss_grad(view, y[::2], W[::3], b),
           plain_softmax_loss_grad(view, y[::2], W[::3], b), np.float64)


def test_nan_logits_propagate():
    rng, X, y, W, b = _problem(50, 4, 3)
    X[7, 2] = np.nan
    value, G, gb = softmax_loss_grad(X, y, W, b)
    assert np.isnan(value) and np.isnan(gb).all()


def test_exp_polynomial_within_two_ulp_of_libm():
    @numba.njit
    def exps(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = snb.exp_nonpositive(x[i])
        return out

    rng = np.random.default_rng(0)
    x = np.concatenate([
        -rng.random(20000) * 708.0,
        -rng.random(20000) * 2.0,
        -np.logspace(-300, 2.8, 2000),
        [0.0, -0.0, -np.log(2) / 2, -np.log(2), -707.9, -708.0],
    ])
    got, ref = exps(x), np.exp(x)
    assert np.all(np.abs(got - ref) <= 2 * np.spacing(ref))
    # below -708 exp is subnormal (< 2.3e-308): returned as 0; -inf -> 0; NaN stays NaN
    tail = exps(np.array([-708.5, -745.2, -1e308, -np.inf, np.nan]))
    np.testing.assert_array_equal(tail[:4], 0.0)
    assert np.isnan(tail[4])


def test_block_rows_bound_the_blas_work():
    for n, K in [(100, 10), (100, 50), (1024, 16), (2, 2), (37, 5)]:
        R = snb.block_rows(n, K)
        assert 1 <= R <= 512
        assert R * n * K <= 262_144  # OpenBLAS runs such a gemm on the calling thread
        assert snb.suits(1000, n, K) == (R >= 16)
    assert snb.block_rows(100, 10) == 262
    # one row, one column or n K > 16384 -> the NumPy path
    assert not snb.suits(1, 100, 10)
    assert not snb.suits(1000, 1, 10)
    assert not snb.suits(1000, 2000, 10)


@pytest.mark.parametrize("m,n,K", [(1, 30, 4), (300, 1, 4), (40, 2000, 10)])
def test_shapes_outside_the_compiled_pass_still_match(m, n, K):
    assert not snb.suits(m, n, K)
    rng, X, y, W, b = _problem(m, n, K, seed=11)
    s = rng.random(m) + 0.5
    got = softmax_loss_grad(X, y, W, b, sample_weight=s)
    _close(got, plain_softmax_loss_grad(X, y, W, b, sample_weight=s), np.float64)


@pytest.mark.parametrize("order", ["C", "F"])
def test_blocks_never_have_one_row(order):
    # 263 rows with blocks of at most 262: two blocks of 131 and 132, not 262 + 1 (a one-row
    # block would make numba call gemv, which OpenBLAS threads)
    rng, X, y, W, b = _problem(263, 100, 10, seed=2, order=order)
    got = softmax_loss_grad(X, y, W, b)
    _close(got, plain_softmax_loss_grad(X, y, W, b), np.float64)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_deterministic_across_calls_and_thread_counts(dtype, order):
    rng, X, y, W, b = _problem(20011, 37, 7, dtype, seed=9, order=order)
    s = rng.random(20011)
    first = softmax_loss_grad(X, y, W, b, sample_weight=s)
    one = on_one_thread(lambda: softmax_loss_grad(X, y, W, b, sample_weight=s))
    again = softmax_loss_grad(X, y, W, b, sample_weight=s)
    for a, c in ((first, one), (first, again)):
        assert a[0] == c[0]
        assert np.array_equal(a[1], c[1]) and np.array_equal(a[2], c[2])
