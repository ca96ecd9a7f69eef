"""Losses computed from logits, each returning (value, dL/dlogits).

Every loss has the same rhythm: per-sample losses l_i from logits, then a reduction, and the
derivative of the *reduced* loss with respect to the logits (the 1/m of the mean is inside).

For the three canonical pairs the derivative is the same identity, which the lessons derive
three times (the per-sample steps are written once, in :mod:`gdlab.core.pointwise`):

    identity + MSE : dL/dz = 2 (y_hat - y) / m
    sigmoid  + BCE : dL/dz =   (sigmoid(z) - y) / m
    softmax  + CCE : dL/dz =   (softmax(z) - Y) / m

``softmax_mse`` and ``softmax_bce`` are the lesson's (L2) *wrong* choices for softmax, kept so
their vanishing gradients can be shown next to CCE.

Reduction: ``"mean"`` (default) divides by the number of samples (by sum(sample_weight) when
weights are given, so integer weights equal repeated rows); ``"sum"`` is the lesson's sum
convention, e.g. grad = 2 X^T (y_hat - y) for MSE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import log_softmax, logsumexp, softmax

from gdlab.core._validation import check_choice, check_consistent_length
from gdlab.core.pointwise import bce_point, cce_point, mse_point

Array = NDArray[np.floating[Any]]
LossFn = Callable[..., tuple[float, Array]]

REDUCTIONS = ("mean", "sum")


def sample_factors(
    m: int, sample_weight: Array | None, reduction: str, dtype: Any = np.float64
) -> Array | float:
    """Per-sample factor c_i so that the reduced loss is sum_i c_i l_i.

    Returns a scalar (1/m or 1) without weights, an array of shape (m,) with weights.
    """
    check_choice(reduction, "reduction", REDUCTIONS)
    if sample_weight is None:
        return 1.0 / m if reduction == "mean" else 1.0
    s = np.asarray(sample_weight, dtype=dtype)
    if reduction == "mean":
        total = s.sum()
        if total <= 0:
            raise ValueError(
                f"The sum of sample_weight must be positive, got {total!r}. "
                "Give at least one sample a positive weight."
            )
        return s / total
    return s


def _reduce(per_sample: Array, c: Array | float) -> float:
    if np.ndim(c) == 0:
        return float(np.sum(per_sample) * c)
    return float(np.dot(per_sample, c))


def _scale_rows(d: Array, c: Array | float) -> Array:
    if np.ndim(c) == 0:
        return d * c
    c_arr = np.asarray(c, dtype=d.dtype)
    return d * (c_arr[:, None] if d.ndim == 2 else c_arr)


def _check_pair(logits: Array, y: Array) -> None:
    check_consistent_length(("logits", logits.shape[0]), ("y", y.shape[0]))
    if logits.shape != y.shape:
        raise ValueError(
            f"Input y must have the same shape as the logits {logits.shape}, got {y.shape}. "
            "Pass targets with one entry per output."
        )


def one_hot(labels: NDArray[Any], n_classes: int, dtype: Any = np.float64) -> Array:
    """One-hot encode integer labels of shape (m,) into an array of shape (m, n_classes)."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"Class indices must lie in [0, {n_classes - 1}], got values from {labels.min()} "
            f"to {labels.max()}. Encode labels as 0..K-1 (LabelEncoder does this)."
        )
    Y = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    Y[np.arange(labels.shape[0]), labels.astype(np.intp)] = 1
    return Y


def _targets_2d(logits: Array, y: Array) -> Array:
    """Integer labels (m,) -> one-hot (m, K); a (m, K) target passes through."""
    if y.ndim == 1 and logits.ndim == 2:
        return one_hot(y, logits.shape[1], dtype=logits.dtype)
    return y.astype(logits.dtype, copy=False)


def _elementwise(point: Callable[[Array, Array], tuple[Array, Array]], logits: Array,
                 y: Array, reduction: str, sample_weight: Array | None) -> tuple[float, Array]:
    """A loss whose step ``point(z, y) -> (l, dl/dz)`` acts on each logit alone; per sample
    the K outputs' losses add up."""
    _check_pair(logits, y)
    c = sample_factors(logits.shape[0], sample_weight, reduction, logits.dtype)
    losses, dz = point(logits, y)
    per_sample = losses if losses.ndim == 1 else losses.sum(axis=1)
    return _reduce(per_sample, c), _scale_rows(dz, c)


def mse(
    logits: Array, y: Array, *, reduction: str = "mean", sample_weight: Array | None = None
) -> tuple[float, Array]:
    """Mean squared error with the identity link.

    logits, y : arrays of shape (m,) or (m, K); the per-sample loss sums over the K outputs.
    Returns the loss and dL/dlogits, shape of logits.
    """
    return _elementwise(mse_point, logits, y, reduction, sample_weight)


def bce(
    logits: Array, y: Array, *, reduction: str = "mean", sample_weight: Array | None = None
) -> tuple[float, Array]:
    """Binary cross-entropy from logits: l = log(1 + e^z) - y z, never log(sigmoid(z)).

    logits, y : arrays of shape (m,) (or (m, K) for K independent outputs); y in [0, 1].
    Returns the loss and dL/dlogits = c (sigmoid(z) - y).
    """
    return _elementwise(bce_point, logits, y, reduction, sample_weight)


def cce(
    logits: Array, y: Array, *, reduction: str = "mean", sample_weight: Array | None = None
) -> tuple[float, Array]:
    """Categorical cross-entropy from logits: l = logsumexp(z) - sum_k Y_k z_k.

    logits : array of shape (m, K); y : integer labels (m,) or one-hot / probabilities (m, K).
    Returns the loss and dL/dlogits = c (softmax(z) - Y).
    """
    Y = _targets_2d(logits, y)
    _check_pair(logits, Y)
    c = sample_factors(logits.shape[0], sample_weight, reduction, logits.dtype)
    per_sample, dz = cce_point(logits, Y)
    return _reduce(per_sample, c), _scale_rows(dz, c)


def _softmax_backward(p: Array, dL_dp: Array) -> Array:
    """Multiply by the softmax Jacobian p_k (delta_kj - p_j), row by row, without forming it."""
    return p * (dL_dp - np.einsum("ij,ij->i", dL_dp, p)[:, None])


def softmax_mse(
    logits: Array, y: Array, *, reduction: str = "mean", sample_weight: Array | None = None
) -> tuple[float, Array]:
    """MSE on softmax outputs (the lesson's poor choice): l = sum_k (p_k - Y_k)^2.

    Its gradient carries the factors p_k (1 - p_k) and vanishes when the softmax saturates.
    """
    Y = _targets_2d(logits, y)
    _check_pair(logits, Y)
    c = sample_factors(logits.shape[0], sample_weight, reduction, logits.dtype)
    p = softmax(logits, axis=1)
    r = p - Y
    per_sample = np.einsum("ij,ij->i", r, r)
    return _reduce(per_sample, c), _scale_rows(_softmax_backward(p, 2.0 * r), c)


def _log1m_softmax(logits: Array) -> Array:
    """log(1 - softmax(z)_k) = logsumexp(z_j, j != k) - logsumexp(z), stable for every k."""
    m, K = logits.shape
    masked = np.broadcast_to(logits[:, None, :], (m, K, K)).copy()
    masked[:, np.arange(K), np.arange(K)] = -np.inf
    return logsumexp(masked, axis=2) - logsumexp(logits, axis=1)[:, None]


def softmax_bce(
    logits: Array, y: Array, *, reduction: str = "mean", sample_weight: Array | None = None
) -> tuple[float, Array]:
    """BCE on softmax outputs (the lesson's mismatched choice): treats each p_k as independent.

    l = -sum_k [Y_k log p_k + (1 - Y_k) log(1 - p_k)], with log p and log(1 - p) computed from
    the logits directly, so the value stays finite where p rounds to 0 or 1.
    """
    Y = _targets_2d(logits, y)
    _check_pair(logits, Y)
    if logits.shape[1] < 2:
        raise ValueError("softmax_bce needs at least 2 outputs, got logits of shape "
                         f"{logits.shape}.")
    c = sample_factors(logits.shape[0], sample_weight, reduction, logits.dtype)
    log_p = log_softmax(logits, axis=1)
    log_1mp = _log1m_softmax(logits)
    per_sample = -(Y * log_p + (1.0 - Y) * log_1mp).sum(axis=1)
    p = np.exp(log_p)
    # p_k dL/dp_k = -Y_k + (1 - Y_k) p_k / (1 - p_k); the ratio is capped to stay finite
    odds = np.exp(np.minimum(log_p - log_1mp, 700.0))
    a = -Y + (1.0 - Y) * odds
    dz = a - p * a.sum(axis=1, keepdims=True)
    return _reduce(per_sample, c), _scale_rows(dz, c)


LOSSES: dict[str, LossFn] = {
    "mse": mse,
    "bce": bce,
    "cce": cce,
    "softmax_mse": softmax_mse,
    "softmax_bce": softmax_bce,
}


def get_loss(name: str) -> LossFn:
    """Look a loss up by name: one of 'mse', 'bce', 'cce', 'softmax_mse', 'softmax_bce'."""
    check_choice(name, "loss", LOSSES)
    return LOSSES[name]
