"""The compiled Fortran-order pass (gdlab.engines.kernels._linear_f_nb) against the plain formula."""

from __future__ import annotations

import numpy as np
import pytest
from _checks import assert_chunk_sums, on_one_thread
from _checks import rel as _rel

from gdlab.engines.kernels import linear_loss_grad, plain_linear_loss_grad

pytestmark = pytest.mark.numba  # the compiled engine's own tests

numba = pytest.importorskip("numba")


# m around the 512-row block (tails of 1 and 511 rows), n around the four-column sweep
# (n = 1, 3, 4, 5, 10), and 60,013 x 13 x 8 B = 6.2 MB -> 2 parallel chunks.
@pytest.mark.parametrize("m,n", [(1, 1), (511, 3), (513, 4), (1025, 5), (3001, 10), (60013, 13)])
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fortran_pass_matches_plain(m, n, loss, weighted):
    rng = np.random.default_rng(m + n)
    X = np.asfortranarray(rng.standard_normal((m, n)))
    y = rng.standard_normal(m) if loss == "mse" else (rng.random(m) < 0.3) * 1.0
    w = rng.standard_normal(n)
    s = rng.random(m) + 0.1 if weighted else None
    got = linear_loss_grad(X, y, w, -0.2, loss=loss, sample_weight=s)
    ref = plain_linear_loss_grad(X, y, w, -0.2, loss=loss, sample_weight=s)
    assert got[0] == pytest.approx(ref[0], rel=1e-12)
    assert _rel(got[1], ref[1]) <= 1e-12
    assert got[2] == pytest.approx(ref[2], rel=1e-12, abs=1e-15)


def test_fortran_pass_is_the_one_taken(monkeypatch):
    from gdlab.engines.kernels import _linear_f_nb  # imported by linear_loss_grad on use

    calls = []
    real = _linear_f_nb.linear_f_nb

    def spy(*args):
        calls.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(_linear_f_nb, "linear_f_nb", spy)
    X = np.asfortranarray(np.random.default_rng(0).standard_normal((700, 6)))
    linear_loss_grad(X, np.zeros(700), np.ones(6), 0.0)
    assert calls == [(6, 700)]  # called on X.T, C-contiguous (n, m)
    linear_loss_grad(np.ascontiguousarray(X), np.zeros(700), np.ones(6), 0.0)
    assert calls == [(6, 700)]  # C order: the row-wise pass


def test_fortran_pass_float32_and_extreme_logits():
    rng = np.random.default_rng(3)
    X = np.asfortranarray(rng.standard_normal((2049, 7)).astype(np.float32))
    y = (rng.random(2049) < 0.5) * 1.0
    w = rng.standard_normal(7) * 300.0  # logits of several hundred: exp(-|z|) underflows
    got = linear_loss_grad(X, y, w, 0.0, loss="bce")
    ref = plain_linear_loss_grad(X.astype(np.float64), y, w, 0.0, loss="bce")
    assert got[1].dtype == np.float32
    assert np.isfinite(got[0]) and got[0] == pytest.approx(ref[0], rel=1e-6)
    assert _rel(got[1], ref[1]) <= 2e-5


def test_fortran_pass_deterministic_across_thread_counts():
    rng = np.random.default_rng(4)
    X = np.asfortranarray(rng.standard_normal((100_003, 9)))  # 7.2 MB: 2 chunks
    y = rng.standard_normal(100_003)
    w = rng.standard_normal(9)
    first = linear_loss_grad(X, y, w, 0.1)
    one = on_one_thread(lambda: linear_loss_grad(X, y, w, 0.1))
    assert first[0] == one[0] and first[2] == one[2]
    assert np.array_equal(first[1], one[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [33, 37, 40, 100])
def test_wide_pipeline_per_chunk(dtype, n):
    """The wide kernel pairs each block's logits with the previous block's gradient when the
    two have the same rows. Per chunk against the plain formula, for chunks of one partial
    block, of full blocks only (the last gradient after the loop), and of full blocks then a
    partial one (unpaired); n covers the eight-column paired sweep with no tail (40) and
    with tails of 1 (33), 4 + 1 (37) and 4 (100) columns."""
    from gdlab.engines.kernels._linear_f_nb import block_rows, linear_f_nb

    rng = np.random.default_rng(n)
    rows = block_rows(np.dtype(dtype).itemsize)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    for m, nchunks in [(rows - 3, 1), (4 * rows, 1), (3 * rows + 17, 1), (5 * rows + 100, 2)]:
        X = rng.standard_normal((m, n)).astype(dtype, order="F")
        X64 = X.astype(np.float64)
        w = rng.standard_normal(n) * 2.0 / np.sqrt(n)
        for head in (0, 1):
            y = (rng.random(m) < 0.5) * 1.0 if head else rng.standard_normal(m)
            for s in (np.empty(0), rng.random(m) + 0.5):
                P = linear_f_nb(X.T, y, w, 0.3, s, head, nchunks)
                assert np.array_equal(P, linear_f_nb(X.T, y, w, 0.3, s, head, nchunks))
                assert_chunk_sums(P, X64, y, w, 0.3, s, head, tol, msg=f"m={m} n={n}")
