"""Input preparation and the NumPy implementations (plain formula, row-blocked formula)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdlab.core._validation import check_choice, check_consistent_length
from gdlab.core.losses import one_hot
from gdlab.core.pointwise import bce_point, cce_point, mse_point

# A row block the kernels keep in cache between forming r and X_block^T r (L2 is 1-2 MiB+).
BLOCK_BYTES = 1_536 * 1024

LINEAR_LOSSES = ("mse", "bce")
HEADS = ("mse", "bce", "cce")
REDUCTIONS = ("mean", "sum")


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
    check_choice(reduction, "reduction", REDUCTIONS)
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
    return mse_point(z, y) if loss == "mse" else bce_point(z, y)


def _softmax_pointwise(
    Z: NDArray[np.float64], y: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-sample CCE from logits and dl_i/dZ_i = softmax(Z_i) - onehot(y_i)."""
    return cce_point(Z, one_hot(y, Z.shape[1]))


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
    check_choice(loss, "loss", LINEAR_LOSSES)
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
    """:func:`gdlab.engines.kernels.linear_loss_grad` by the plain formula: the reference.

    ``z = X @ w + b`` and ``X.T @ dl/dz`` over the whole of X (X read twice); the same
    arguments and results (shapes, X's dtype), equal to rounding.
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
    """:func:`gdlab.engines.kernels.softmax_loss_grad` by the plain formula: the reference.

    ``Z = X @ W + b``, a stable softmax and ``X.T @ dL/dZ`` over the whole of X; the same
    arguments and results (shapes, X's dtype), equal to rounding.
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
