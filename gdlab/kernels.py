"""Fused full-batch gradient kernels: loss, dL/dW and dL/db in one pass over X.

Contract. For the three canonical pairs (identity + MSE, sigmoid + BCE, softmax + CCE) the
gradient with respect to the logits is ``dL/dz = s * (y_hat - y) / S`` (times 2 for MSE), so

    grad_W = X^T dL/dz,    grad_b = sum over rows of dL/dz,

where ``s`` are sample weights (1 when None) and ``S = sum(s)`` for the mean reduction,
``S = 1`` for the sum reduction. The loss is ``sum(s_i l_i) / S``.

The plain formula (``X.T @ r`` after ``X @ w``) reads X from memory twice, and OpenBLAS's
``X.T @ r`` on a C-ordered X runs on one thread. A full-batch gradient is memory-bound, so the
fused kernels here read each row block once: they form the block's logits, residuals and its
``X_block^T r`` contribution while the block is still in cache.

Three implementations, all computing the same numbers:

- ``plain_*``: the textbook NumPy formula; the reference for tests.
- blocked NumPy (``blocked_*``): the plain formula on row blocks of ~1.5 MiB, so each block
  is read from memory once and reused from cache.
- numba (C-ordered X): a compiled single pass, ``prange`` over fixed row chunks (~4 MiB)
  into per-chunk partial sums combined in chunk order. The chunking depends only on the
  shape of X, never on the thread count, so results are bit-for-bit reproducible across
  thread counts and runs. The linear kernel handles four rows per step and the softmax kernel
  two (one load of w / W^T / the gradient serves several rows); softmax works K-major
  (rows of W^T). float32 input is accumulated in float64 inside the kernel and the gradient
  is returned in float32.

Which one runs (``linear_loss_grad`` / ``softmax_loss_grad``, measured in docs/benchmarks.md):
C-ordered X -> numba; Fortran-ordered or strided X -> blocked NumPy for linear/logistic
(BLAS reads contiguous columns at full bandwidth) and the whole-array formula for softmax
(OpenBLAS's skinny gemm on small F-ordered blocks is slow); no numba -> the same NumPy paths.
``loss_grad`` (what models call) uses these from ``FUSED_MIN_SIZE`` entries of X on
(``FUSED_MIN_SIZE_SOFTMAX`` for softmax) and the plain formula below.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdlab._validation import check_choice, check_consistent_length

try:  # numba is a declared dependency, but the kernels degrade to blocked NumPy without it
    from numba import (
        get_num_threads,
        njit,
        prange,
        set_num_threads,
        set_parallel_chunksize,
    )

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    HAVE_NUMBA = False

__all__ = [
    "BLOCK_BYTES",
    "CHUNK_BYTES",
    "FUSED_MIN_SIZE",
    "FUSED_MIN_SIZE_SOFTMAX",
    "HAVE_NUMBA",
    "blocked_linear_loss_grad",
    "blocked_softmax_loss_grad",
    "linear_loss_grad",
    "loss_grad",
    "plain_linear_loss_grad",
    "plain_softmax_loss_grad",
    "softmax_loss_grad",
]

# A row block the kernels keep in cache between forming r and X_block^T r (L2 is 1-2 MiB+).
BLOCK_BYTES = 1_536 * 1024
# Rows of X handed to one parallel task; a function of X's shape only, so sums are reproducible.
CHUNK_BYTES = 4 * 1024 * 1024
# Below these many entries of X (m * n) `loss_grad` uses the plain formula. The compiled
# linear pass only pays once X no longer fits in the last-level cache (105 MiB here), where
# the plain formula's second read of X comes from DRAM; softmax's compiled pass does K x more
# arithmetic per byte and wins earlier. Measured on a loaded 2-core machine
# (docs/benchmarks.md): provisional, re-measure with benchmarks/dispatch.py on a quiet one.
FUSED_MIN_SIZE = 3_000_000
FUSED_MIN_SIZE_SOFTMAX = 300_000

_LINEAR_LOSSES = ("mse", "bce")
_HEADS = ("mse", "bce", "cce")
_REDUCTIONS = ("mean", "sum")


# --------------------------------------------------------------------------------------------
# Input preparation shared by every implementation
# --------------------------------------------------------------------------------------------
def _as_X(X: ArrayLike) -> NDArray[np.floating]:
    X = np.asarray(X)
    if X.dtype not in (np.float64, np.float32):
        X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2-D array for X, got {X.ndim}-D array of shape {X.shape} instead. "
            "Reshape with X.reshape(-1, 1) for a single feature."
        )
    return X


def _weights(
    sample_weight: ArrayLike | None, m: int, reduction: str
) -> tuple[NDArray[np.float64] | None, float]:
    """Return the weights as float64 (or None) and the normaliser S."""
    check_choice(reduction, "reduction", _REDUCTIONS)
    if sample_weight is None:
        return None, float(m) if reduction == "mean" else 1.0
    s = np.asarray(sample_weight, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(
            f"Input sample_weight must be 1-D of shape (n_samples,), got shape {s.shape} "
            "instead."
        )
    check_consistent_length(("X", m), ("sample_weight", s.shape[0]))
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError(
            "Input sample_weight must hold finite values >= 0; got a negative or non-finite "
            "weight. Clip or drop those samples."
        )
    total = float(s.sum())
    if reduction == "mean" and total <= 0.0:
        raise ValueError(
            "Input sample_weight sums to 0, so the weighted mean is undefined. Give at least "
            "one sample a positive weight or use reduction='sum'."
        )
    return s, total if reduction == "mean" else 1.0


def _as_labels(y: ArrayLike, m: int, K: int) -> NDArray[np.intp]:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"Input y must be 1-D of shape (n_samples,), got shape {y.shape}.")
    check_consistent_length(("X", m), ("y", y.shape[0]))
    if y.dtype.kind == "f":
        if not np.all(np.floor(y) == y):
            raise ValueError(
                "Input y for softmax must hold integer class labels in [0, K); got non-integer "
                "values. Encode labels with sklearn.preprocessing.LabelEncoder."
            )
    elif y.dtype.kind not in "iub":
        raise ValueError(f"Input y for softmax must hold integer class labels, got {y.dtype}.")
    labels = y.astype(np.intp, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(
            f"Input y for softmax must hold class labels in [0, {K}) for W with {K} columns; "
            f"got labels in [{labels.min()}, {labels.max()}]. Encode labels with "
            "sklearn.preprocessing.LabelEncoder."
        )
    return labels


def _as_targets(y: ArrayLike, m: int) -> NDArray[np.float64]:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"Input y must be 1-D of shape (n_samples,), got shape {y.shape}.")
    check_consistent_length(("X", m), ("y", y.shape[0]))
    return y


def _check_params(X: NDArray[Any], w: NDArray[Any], name: str, ndim: int) -> None:
    if w.ndim != ndim or w.shape[0] != X.shape[1]:
        want = "(n_features,)" if ndim == 1 else "(n_features, n_classes)"
        raise ValueError(
            f"Input {name} must have shape {want} = ({X.shape[1]}{', K' if ndim == 2 else ''}) "
            f"to match X of shape {X.shape}; got shape {w.shape} instead."
        )


# --------------------------------------------------------------------------------------------
# Point-wise parts in NumPy (used by the plain and blocked implementations)
# --------------------------------------------------------------------------------------------
def _linear_pointwise(
    loss: str, z: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-sample loss l_i and dl_i/dz_i for identity+MSE or sigmoid+BCE (from logits)."""
    if loss == "mse":
        d = z - y
        return d * d, 2.0 * d
    # logaddexp(0, z) - y z, never log(sigmoid(z)): stays finite for |z| ~ 1000. Written
    # through e = exp(-|z|) so one SIMD exp and one log1p serve both the loss and expit(z)
    # (np.logaddexp + expit cost ~3x more per element).
    e = np.exp(-np.abs(z))
    q = 1.0 / (1.0 + e)
    p = np.where(z >= 0.0, q, e * q)  # expit(z)
    return np.maximum(z, 0.0) + np.log1p(e) - y * z, p - y


def _softmax_pointwise(
    Z: NDArray[np.float64], y: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-sample CCE from logits and dl_i/dZ_i = softmax(Z_i) - onehot(y_i)."""
    rows = np.arange(Z.shape[0])
    P = Z - Z.max(axis=1, keepdims=True)  # subtract the row max: exp overflows above ~709
    shifted_true = P[rows, y]
    np.exp(P, out=P)
    total = P.sum(axis=1)
    losses = np.log(total) - shifted_true  # logsumexp(Z_i) - Z_i[y_i]
    P /= total[:, None]
    P[rows, y] -= 1.0
    return losses, P


def _linear_numpy(
    X: NDArray[Any],
    y: NDArray[np.float64],
    w: NDArray[Any],
    b: float,
    loss: str,
    s: NDArray[np.float64] | None,
    S: float,
    block_rows: int,
) -> tuple[float, NDArray[Any], float]:
    m, n = X.shape
    g = np.zeros(n, dtype=np.float64)
    gb = 0.0
    total = 0.0
    wX = w.astype(X.dtype, copy=False)
    for lo in range(0, m, block_rows):
        Xb = X[lo : lo + block_rows]
        z = (Xb @ wX).astype(np.float64) + b
        losses, r = _linear_pointwise(loss, z, y[lo : lo + block_rows])
        if s is not None:
            sb = s[lo : lo + block_rows]
            losses *= sb
            r *= sb
        total += float(losses.sum())
        gb += float(r.sum())
        g += Xb.T @ r.astype(X.dtype, copy=False)
    return total / S, (g / S).astype(X.dtype), gb / S


def _softmax_numpy(
    X: NDArray[Any],
    y: NDArray[np.intp],
    W: NDArray[Any],
    b: NDArray[Any],
    s: NDArray[np.float64] | None,
    S: float,
    block_rows: int,
) -> tuple[float, NDArray[Any], NDArray[Any]]:
    m, n = X.shape
    K = W.shape[1]
    G = np.zeros((n, K), dtype=np.float64)
    gb = np.zeros(K, dtype=np.float64)
    total = 0.0
    WX = W.astype(X.dtype, copy=False)
    bb = np.asarray(b, dtype=np.float64)
    for lo in range(0, m, block_rows):
        Xb = X[lo : lo + block_rows]
        Z = (Xb @ WX).astype(np.float64) + bb
        losses, R = _softmax_pointwise(Z, y[lo : lo + block_rows])
        if s is not None:
            sb = s[lo : lo + block_rows]
            losses *= sb
            R *= sb[:, None]
        total += float(losses.sum())
        gb += R.sum(axis=0)
        G += Xb.T @ R.astype(X.dtype, copy=False)
    return total / S, (G / S).astype(X.dtype), (gb / S).astype(X.dtype)


def _block_rows(X: NDArray[Any]) -> int:
    return max(1, BLOCK_BYTES // max(1, X.shape[1] * X.itemsize))


def _prepare_linear(
    X: ArrayLike, y: ArrayLike, w: ArrayLike, loss: str, sample_weight: Any, reduction: str
) -> tuple[NDArray[Any], NDArray[np.float64], NDArray[Any], NDArray[np.float64] | None, float]:
    check_choice(loss, "loss", _LINEAR_LOSSES)
    Xa = _as_X(X)
    wa = np.asarray(w)
    _check_params(Xa, wa, "w", 1)
    ya = _as_targets(y, Xa.shape[0])
    s, S = _weights(sample_weight, Xa.shape[0], reduction)
    return Xa, ya, wa, s, S


def _prepare_softmax(
    X: ArrayLike, y: ArrayLike, W: ArrayLike, b: ArrayLike, sample_weight: Any, reduction: str
) -> tuple[
    NDArray[Any], NDArray[np.intp], NDArray[Any], NDArray[Any], NDArray[np.float64] | None, float
]:
    Xa = _as_X(X)
    Wa = np.asarray(W)
    _check_params(Xa, Wa, "W", 2)
    ba = np.asarray(b)
    if ba.shape != (Wa.shape[1],):
        raise ValueError(
            f"Input b must have shape (K,) = ({Wa.shape[1]},) to match W of shape {Wa.shape}; "
            f"got shape {ba.shape} instead."
        )
    ya = _as_labels(y, Xa.shape[0], Wa.shape[1])
    s, S = _weights(sample_weight, Xa.shape[0], reduction)
    return Xa, ya, Wa, ba, s, S


# --------------------------------------------------------------------------------------------
# Public reference and blocked implementations
# --------------------------------------------------------------------------------------------
def plain_linear_loss_grad(
    X: ArrayLike,
    y: ArrayLike,
    w: ArrayLike,
    b: float,
    *,
    loss: str = "mse",
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], float]:
    """Loss and gradient of a linear (MSE) or logistic (BCE) model by the plain formula.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
        Targets (MSE) or 0/1 labels (BCE).
    w : array of shape (n_features,)
    b : float
    loss : {'mse', 'bce'}
    sample_weight : array of shape (n_samples,) or None
    reduction : {'mean', 'sum'}
        Weighted mean ``sum(s_i l_i) / sum(s_i)`` or the weighted sum.

    Returns
    -------
    loss : float
    grad_w : array of shape (n_features,), X's dtype
    grad_b : float
    """
    Xa, ya, wa, s, S = _prepare_linear(X, y, w, loss, sample_weight, reduction)
    return _linear_numpy(Xa, ya, wa, float(b), loss, s, S, max(1, Xa.shape[0]))


def plain_softmax_loss_grad(
    X: ArrayLike,
    y: ArrayLike,
    W: ArrayLike,
    b: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], NDArray[np.floating]]:
    """Loss and gradient of softmax regression (CCE from logits) by the plain formula.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    y : int array of shape (n_samples,)
        Class labels in [0, K).
    W : array of shape (n_features, K)
    b : array of shape (K,)
    sample_weight : array of shape (n_samples,) or None
    reduction : {'mean', 'sum'}

    Returns
    -------
    loss : float
    grad_W : array of shape (n_features, K), X's dtype
    grad_b : array of shape (K,), X's dtype
    """
    Xa, ya, Wa, ba, s, S = _prepare_softmax(X, y, W, b, sample_weight, reduction)
    return _softmax_numpy(Xa, ya, Wa, ba, s, S, max(1, Xa.shape[0]))


def blocked_linear_loss_grad(
    X: ArrayLike,
    y: ArrayLike,
    w: ArrayLike,
    b: float,
    *,
    loss: str = "mse",
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], float]:
    """As :func:`plain_linear_loss_grad`, over row blocks of ~1.5 MiB (X read once)."""
    Xa, ya, wa, s, S = _prepare_linear(X, y, w, loss, sample_weight, reduction)
    return _linear_numpy(Xa, ya, wa, float(b), loss, s, S, _block_rows(Xa))


def blocked_softmax_loss_grad(
    X: ArrayLike,
    y: ArrayLike,
    W: ArrayLike,
    b: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], NDArray[np.floating]]:
    """As :func:`plain_softmax_loss_grad`, over row blocks of ~1.5 MiB (X read once)."""
    Xa, ya, Wa, ba, s, S = _prepare_softmax(X, y, W, b, sample_weight, reduction)
    return _softmax_numpy(Xa, ya, Wa, ba, s, S, _block_rows(Xa))


# --------------------------------------------------------------------------------------------
# Compiled single-pass kernels
# --------------------------------------------------------------------------------------------
def _n_chunks(X: NDArray[Any]) -> int:
    """Parallel tasks for X: a function of its shape only (reproducible sums)."""
    return int(min(X.shape[0], max(1, -(-X.nbytes // CHUNK_BYTES))))


if HAVE_NUMBA:
    # The loops over features carry fastmath 'reassoc' + 'contract' only: they let LLVM
    # vectorise the dot-product reductions and fuse multiply-adds (3-4x faster than strict
    # sequential sums). The order LLVM picks is fixed at compile time, so results stay
    # deterministic; no finite-math flags, so NaN/inf keep IEEE semantics. The point-wise
    # functions below are compiled strictly (no fast-math) and inlined by LLVM.
    _VEC = {"reassoc", "contract"}

    @njit(cache=True)
    def _log1p_small(e):  # type: ignore[no-untyped-def]
        """log1p(e) for e >= 0: one log and one division (libm log1p costs 2x more).

        Goldberg's trick: with u = fl(1 + e), log(u) * e / (u - 1) is accurate to a few ulp.
        """
        u = 1.0 + e
        if u == 1.0:
            return e
        return np.log(u) * (e / (u - 1.0))

    @njit(cache=True)
    def _pointwise_nb(head, z, yi):  # type: ignore[no-untyped-def]
        """Per-sample loss and dl/dz: identity + MSE (head 0) or sigmoid + BCE (head 1)."""
        if head == 0:
            d = z - yi
            return d * d, 2.0 * d
        # logaddexp(0, z) - y z = max(z, 0) + log1p(exp(-|z|)) - y z: finite for |z| ~ 1000
        e = np.exp(-abs(z))
        q = 1.0 / (1.0 + e)
        if z >= 0.0:
            return z + _log1p_small(e) - yi * z, q - yi
        return _log1p_small(e) - yi * z, e * q - yi

    @njit(cache=True)
    def _bce_quad(z0, z1, z2, z3, y0, y1, y2, y3):  # type: ignore[no-untyped-def]
        """Summed BCE of four rows and their dl/dz, with one log instead of four.

        sum_r log1p(e_r) = log1p(E) with 1 + E = prod_r (1 + e_r); E is formed as
        E <- E + e + E e (no cancellation, all terms >= 0), so the sum keeps full relative
        accuracy even when every e_r is tiny (all rows well classified).
        """
        e0 = np.exp(-abs(z0))
        e1 = np.exp(-abs(z1))
        e2 = np.exp(-abs(z2))
        e3 = np.exp(-abs(z3))
        q0 = 1.0 / (1.0 + e0)
        q1 = 1.0 / (1.0 + e1)
        q2 = 1.0 / (1.0 + e2)
        q3 = 1.0 / (1.0 + e3)
        d0 = (q0 if z0 >= 0.0 else e0 * q0) - y0
        d1 = (q1 if z1 >= 0.0 else e1 * q1) - y1
        d2 = (q2 if z2 >= 0.0 else e2 * q2) - y2
        d3 = (q3 if z3 >= 0.0 else e3 * q3) - y3
        lin = ((max(z0, 0.0) - y0 * z0) + (max(z1, 0.0) - y1 * z1)) + (
            (max(z2, 0.0) - y2 * z2) + (max(z3, 0.0) - y3 * z3)
        )
        E = e0
        E = E + e1 + E * e1
        E = E + e2 + E * e2
        E = E + e3 + E * e3
        return lin + _log1p_small(E), d0, d1, d2, d3

    def _linear_c_py(X, y, w, b, s, head, nchunks):  # type: ignore[no-untyped-def]
        m, n = X.shape
        P = np.zeros((nchunks, n + 2))  # per chunk: grad_w, grad_b, loss
        weighted = s.size > 0
        for c in prange(nchunks):
            lo = c * m // nchunks
            hi = (c + 1) * m // nchunks
            g = np.zeros(n)
            gb = 0.0
            total = 0.0
            i = lo
            # eight rows at a time: each load of w and each update of g serves eight rows
            # (measured 1.15x the read bound, 1.25x with four rows)
            while i + 8 <= hi:
                # rows as 1-D views: j from range() is known >= 0, so the loops vectorize
                # without a negative-index test per element
                x0 = X[i]
                x1 = X[i + 1]
                x2 = X[i + 2]
                x3 = X[i + 3]
                x4 = X[i + 4]
                x5 = X[i + 5]
                x6 = X[i + 6]
                x7 = X[i + 7]
                z0 = z1 = z2 = z3 = z4 = z5 = z6 = z7 = 0.0
                for j in range(n):
                    wj = w[j]
                    z0 += x0[j] * wj
                    z1 += x1[j] * wj
                    z2 += x2[j] * wj
                    z3 += x3[j] * wj
                    z4 += x4[j] * wj
                    z5 += x5[j] * wj
                    z6 += x6[j] * wj
                    z7 += x7[j] * wj
                if head == 1 and not weighted:  # logs dominate BCE: one per four rows
                    lq, d0, d1, d2, d3 = _bce_quad(
                        z0 + b, z1 + b, z2 + b, z3 + b, y[i], y[i + 1], y[i + 2], y[i + 3]
                    )
                    lr, d4, d5, d6, d7 = _bce_quad(
                        z4 + b, z5 + b, z6 + b, z7 + b, y[i + 4], y[i + 5], y[i + 6], y[i + 7]
                    )
                    total += lq + lr
                else:
                    l0, d0 = _pointwise_nb(head, z0 + b, y[i])
                    l1, d1 = _pointwise_nb(head, z1 + b, y[i + 1])
                    l2, d2 = _pointwise_nb(head, z2 + b, y[i + 2])
                    l3, d3 = _pointwise_nb(head, z3 + b, y[i + 3])
                    l4, d4 = _pointwise_nb(head, z4 + b, y[i + 4])
                    l5, d5 = _pointwise_nb(head, z5 + b, y[i + 5])
                    l6, d6 = _pointwise_nb(head, z6 + b, y[i + 6])
                    l7, d7 = _pointwise_nb(head, z7 + b, y[i + 7])
                    if weighted:
                        l0, d0 = l0 * s[i], d0 * s[i]
                        l1, d1 = l1 * s[i + 1], d1 * s[i + 1]
                        l2, d2 = l2 * s[i + 2], d2 * s[i + 2]
                        l3, d3 = l3 * s[i + 3], d3 * s[i + 3]
                        l4, d4 = l4 * s[i + 4], d4 * s[i + 4]
                        l5, d5 = l5 * s[i + 5], d5 * s[i + 5]
                        l6, d6 = l6 * s[i + 6], d6 * s[i + 6]
                        l7, d7 = l7 * s[i + 7], d7 * s[i + 7]
                    total += ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
                gb += ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7))
                for j in range(n):  # the eight rows are still in L1
                    g[j] += ((d0 * x0[j] + d1 * x1[j]) + (d2 * x2[j] + d3 * x3[j])) + (
                        (d4 * x4[j] + d5 * x5[j]) + (d6 * x6[j] + d7 * x7[j])
                    )
                i += 8
            while i < hi:
                z = 0.0
                for j in range(n):
                    z += X[i, j] * w[j]
                li, d = _pointwise_nb(head, z + b, y[i])
                if weighted:
                    li *= s[i]
                    d *= s[i]
                total += li
                gb += d
                for j in range(n):
                    g[j] += d * X[i, j]
                i += 1
            P[c, :n] = g
            P[c, n] = gb
            P[c, n + 1] = total
        return P

    @njit(cache=True)
    def _softmax_row_nb(z, yi):  # type: ignore[no-untyped-def]
        """Overwrite logits z with softmax(z) - onehot(yi); return logsumexp(z) - z[yi]."""
        K = z.shape[0]
        zmax = z[0]
        for k in range(1, K):
            zmax = max(zmax, z[k])
        li = zmax - z[yi]
        acc = 0.0
        for k in range(K):
            z[k] = np.exp(z[k] - zmax)  # subtract the row max: exp overflows above ~709
            acc += z[k]
        inv = 1.0 / acc
        for k in range(K):
            z[k] *= inv
        z[yi] -= 1.0
        return li + np.log(acc)

    def _softmax_c_py(X, y, Wt, b, s, nchunks):  # type: ignore[no-untyped-def]
        m, n = X.shape
        K = Wt.shape[0]
        P = np.zeros((nchunks, K, n + 1))  # K-major partial gradients, bias in column n
        losses = np.zeros(nchunks)
        weighted = s.size > 0
        for c in prange(nchunks):
            lo = c * m // nchunks
            hi = (c + 1) * m // nchunks
            G = np.zeros((K, n))
            gb = np.zeros(K)
            z0 = np.empty(K)
            z1 = np.empty(K)
            total = 0.0
            i = lo
            # two rows at a time: each row of W^T and of G serves both rows
            while i < hi:
                two = i + 1 < hi
                i1 = i + 1 if two else i
                for k in range(K):
                    a0 = 0.0
                    a1 = 0.0
                    for j in range(n):
                        wkj = Wt[k, j]
                        a0 += X[i, j] * wkj
                        a1 += X[i1, j] * wkj
                    z0[k] = a0 + b[k]
                    z1[k] = a1 + b[k]
                l0 = _softmax_row_nb(z0, y[i])
                l1 = _softmax_row_nb(z1, y[i1])
                s0 = s[i] if weighted else 1.0
                s1 = (s[i1] if weighted else 1.0) if two else 0.0
                total += l0 * s0 + l1 * s1
                for k in range(K):
                    r0 = z0[k] * s0
                    r1 = z1[k] * s1
                    gb[k] += r0 + r1
                    for j in range(n):
                        G[k, j] += r0 * X[i, j] + r1 * X[i1, j]
                i += 2
            P[c, :, :n] = G
            P[c, :, n] = gb
            losses[c] = total
        return P, losses


class _Schedule:
    """Run the next parallel region with a coarse dynamic schedule, on one thread for one chunk.

    numba's default static schedule gives each thread a fixed half of the chunks; on a shared
    machine a descheduled thread then stalls the whole call, so chunks are handed out in
    portions of about a quarter of a thread's share. X of a single chunk runs on the calling
    thread only: waking the pool costs more than it saves. Both settings are numba's
    thread-local ones and are restored on exit; they change who computes a chunk, never the
    sums (each chunk has its own row of partials).
    """

    def __init__(self, nchunks: int) -> None:
        self.nchunks = nchunks

    def __enter__(self) -> None:
        self.old_threads = get_num_threads()
        # hand chunks out in ~4 portions per thread: a chunk at a time costs ~20% on an idle
        # machine (measured: 1.42x vs 1.19x the read bound), while a fixed half per thread
        # stalls behind one descheduled thread
        self.old_chunk = set_parallel_chunksize(max(1, self.nchunks // (4 * self.old_threads)))
        if self.nchunks == 1:
            set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        set_parallel_chunksize(self.old_chunk)
        set_num_threads(self.old_threads)


if HAVE_NUMBA:
    _linear_c_nb = njit(parallel=True, cache=True, fastmath=_VEC)(_linear_c_py)
    _softmax_c_nb = njit(parallel=True, cache=True, fastmath=_VEC)(_softmax_c_py)


def _use_compiled(X: NDArray[Any]) -> bool:
    """True when the compiled row-wise kernel suits X: C-contiguous and numba present.

    For Fortran-ordered X a column-wise compiled kernel measured 2-4x slower than blocked
    NumPy, whose BLAS gemv reads the contiguous columns at full bandwidth; so F-order (and any
    strided view) takes the blocked NumPy path, which also reads X from memory once.
    """
    return HAVE_NUMBA and X.flags.c_contiguous and X.shape[0] > 0 and X.shape[1] > 0


def _linear_fused(
    X: NDArray[Any],
    y: NDArray[np.float64],
    w: NDArray[Any],
    b: float,
    loss: str,
    s: NDArray[np.float64] | None,
    S: float,
) -> tuple[float, NDArray[Any], float]:
    if not _use_compiled(X):
        return _linear_numpy(X, y, w, b, loss, s, S, _block_rows(X))
    n = X.shape[1]
    head = _LINEAR_LOSSES.index(loss)
    w64 = np.ascontiguousarray(w, dtype=np.float64)
    s64 = np.empty(0) if s is None else s
    nchunks = _n_chunks(X)
    with _Schedule(nchunks):
        P = _linear_c_nb(X, y, w64, float(b), s64, head, nchunks)
    total = P.sum(axis=0)  # chunk order is fixed: reproducible
    return float(total[n + 1]) / S, (total[:n] / S).astype(X.dtype), float(total[n]) / S


def _softmax_fused(
    X: NDArray[Any],
    y: NDArray[np.intp],
    W: NDArray[Any],
    b: NDArray[Any],
    s: NDArray[np.float64] | None,
    S: float,
) -> tuple[float, NDArray[Any], NDArray[Any]]:
    if not _use_compiled(X):
        # K x more arithmetic per byte than the linear case, and OpenBLAS's skinny gemm on
        # small F-ordered blocks is slow: the whole-array formula measured faster here.
        return _softmax_numpy(X, y, W, b, s, S, max(1, X.shape[0]))
    n = X.shape[1]
    b64 = np.ascontiguousarray(b, dtype=np.float64)
    s64 = np.empty(0) if s is None else s
    Wt = np.ascontiguousarray(np.asarray(W, dtype=np.float64).T)  # K-major: rows of W^T
    nchunks = _n_chunks(X)
    with _Schedule(nchunks):
        P, losses = _softmax_c_nb(X, y, Wt, b64, s64, nchunks)
    total = P.sum(axis=0)
    grad_W = (total[:, :n].T / S).astype(X.dtype)
    return float(losses.sum()) / S, grad_W, (total[:, n] / S).astype(X.dtype)


def linear_loss_grad(
    X: ArrayLike,
    y: ArrayLike,
    w: ArrayLike,
    b: float,
    *,
    loss: str = "mse",
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], float]:
    """Loss and gradient of a linear (MSE) or logistic (BCE) model in one pass over X.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        C- or Fortran-ordered, float64 or float32 (the gradient comes back in X's dtype).
    y : array of shape (n_samples,)
        Targets (MSE) or 0/1 labels (BCE).
    w : array of shape (n_features,)
    b : float
    loss : {'mse', 'bce'}
        'mse': z = X w + b, l_i = (z_i - y_i)^2. 'bce': l_i = logaddexp(0, z_i) - y_i z_i.
    sample_weight : array of shape (n_samples,) or None
    reduction : {'mean', 'sum'}
        Weighted mean ``sum(s_i l_i) / sum(s_i)`` or the weighted sum.

    Returns
    -------
    loss : float
    grad_w : array of shape (n_features,)
    grad_b : float
    """
    Xa, ya, wa, s, S = _prepare_linear(X, y, w, loss, sample_weight, reduction)
    return _linear_fused(Xa, ya, wa, float(b), loss, s, S)


def softmax_loss_grad(
    X: ArrayLike,
    y: ArrayLike,
    W: ArrayLike,
    b: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], NDArray[np.floating]]:
    """Loss and gradient of softmax regression (CCE from logits) in one pass over X.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    y : int array of shape (n_samples,)
        Class labels in [0, K).
    W : array of shape (n_features, K)
    b : array of shape (K,)
    sample_weight : array of shape (n_samples,) or None
    reduction : {'mean', 'sum'}

    Returns
    -------
    loss : float
    grad_W : array of shape (n_features, K)
    grad_b : array of shape (K,)
    """
    Xa, ya, Wa, ba, s, S = _prepare_softmax(X, y, W, b, sample_weight, reduction)
    return _softmax_fused(Xa, ya, Wa, ba, s, S)


def loss_grad(
    head: str,
    X: ArrayLike,
    y: ArrayLike,
    W: ArrayLike,
    b: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], NDArray[np.floating]]:
    """Full-batch loss and gradient for a linear model with a canonical head.

    Picks the fused one-pass kernel when ``m * n >= FUSED_MIN_SIZE`` (``FUSED_MIN_SIZE_SOFTMAX``
    for 'cce') and the plain formula otherwise; both return the same numbers (to rounding).

    Parameters
    ----------
    head : {'mse', 'bce', 'cce'}
        identity + MSE, sigmoid + BCE, softmax + CCE (all from logits).
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
        Targets ('mse'), 0/1 labels ('bce') or class labels in [0, K) ('cce').
    W : array of shape (n_features, K)
        K = 1 for 'mse' and 'bce'.
    b : array of shape (K,)
    sample_weight : array of shape (n_samples,) or None
    reduction : {'mean', 'sum'}

    Returns
    -------
    loss : float
    grad_W : array of shape (n_features, K)
    grad_b : array of shape (K,)
    """
    check_choice(head, "head", _HEADS)
    Xa = _as_X(X)
    Wa = np.asarray(W)
    _check_params(Xa, Wa, "W", 2)
    ba = np.asarray(b).reshape(-1)
    if ba.shape != (Wa.shape[1],):
        raise ValueError(
            f"Input b must have shape (K,) = ({Wa.shape[1]},) to match W of shape {Wa.shape}; "
            f"got shape {np.shape(b)} instead."
        )
    size = Xa.shape[0] * Xa.shape[1]
    if head == "cce":
        fused = size >= FUSED_MIN_SIZE_SOFTMAX
        fn = softmax_loss_grad if fused else plain_softmax_loss_grad
        return fn(Xa, y, Wa, ba, sample_weight=sample_weight, reduction=reduction)
    fused = size >= FUSED_MIN_SIZE
    if Wa.shape[1] != 1:
        raise ValueError(
            f"Input W for head={head!r} must have shape (n_features, 1); got shape "
            f"{Wa.shape}. Use head='cce' for K > 1 classes."
        )
    lfn = linear_loss_grad if fused else plain_linear_loss_grad
    value, grad_w, grad_b = lfn(
        Xa, y, Wa[:, 0], float(ba[0]), loss=head, sample_weight=sample_weight,
        reduction=reduction,
    )
    return value, grad_w[:, None], np.array([grad_b], dtype=grad_w.dtype)
