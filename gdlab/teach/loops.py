"""The same gradients as plain Python loops over samples and features.

These are the "before" of the vectorization lesson (L1): one sample at a time, one feature at
a time, no NumPy inside the loops. They are kept for teaching, for the loop-vs-vectorized
benchmark (``gdlab bench vectorization``), and as an independent reference in the tests.

All take X as a nested sequence of shape (m, n) (lists or an array), theta flat as in
:mod:`gdlab.core.models` (W row-major, then b), and return (loss, grad) with the mean or sum
reduction, matching :meth:`gdlab.core.models.GLM.loss_and_grad`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Matrix = Sequence[Sequence[float]] | NDArray[np.floating]


def _as_lists(X: Matrix, theta: Sequence[float]) -> tuple[list[list[float]], list[float]]:
    return [list(map(float, row)) for row in X], [float(t) for t in theta]


def _scale(reduction: str, m: int) -> float:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"The 'reduction' parameter must be 'mean' or 'sum'. Got {reduction!r}.")
    return 1.0 / m if reduction == "mean" else 1.0


def linear_loss_grad_loop(
    X: Matrix, y: Sequence[float], theta: Sequence[float], reduction: str = "mean"
) -> tuple[float, list[float]]:
    """MSE loss and gradient of linear regression, looping over samples i and features j."""
    rows, th = _as_lists(X, theta)
    m, n = len(rows), len(th) - 1
    c = _scale(reduction, m)
    loss = 0.0
    grad = [0.0] * (n + 1)
    for i in range(m):
        y_hat = th[n]
        for j in range(n):
            y_hat += th[j] * rows[i][j]
        r = y_hat - float(y[i])
        loss += r * r
        k = 2.0 * r  # dL_i/dy_hat
        for j in range(n):
            grad[j] += k * rows[i][j]
        grad[n] += k
    return loss * c, [g * c for g in grad]


def _sigmoid(z: float) -> float:
    # branch on the sign so exp never overflows
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log1p_exp(z: float) -> float:
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


def logistic_loss_grad_loop(
    X: Matrix, y: Sequence[float], theta: Sequence[float], reduction: str = "mean"
) -> tuple[float, list[float]]:
    """BCE-from-logits loss and gradient of logistic regression, one sample at a time."""
    rows, th = _as_lists(X, theta)
    m, n = len(rows), len(th) - 1
    c = _scale(reduction, m)
    loss = 0.0
    grad = [0.0] * (n + 1)
    for i in range(m):
        z = th[n]
        for j in range(n):
            z += th[j] * rows[i][j]
        yi = float(y[i])
        loss += _log1p_exp(z) - yi * z
        dz = _sigmoid(z) - yi
        for j in range(n):
            grad[j] += dz * rows[i][j]
        grad[n] += dz
    return loss * c, [g * c for g in grad]


def softmax_loss_grad_loop(
    X: Matrix, y: Sequence[int], theta: Sequence[float], n_classes: int, reduction: str = "mean"
) -> tuple[float, list[float]]:
    """Cross-entropy loss and gradient of softmax regression, looping over samples, classes
    and features. theta holds W (n, K) row-major then b (K,)."""
    rows, th = _as_lists(X, theta)
    m, K = len(rows), n_classes
    n = (len(th) - K) // K
    c = _scale(reduction, m)
    loss = 0.0
    grad = [0.0] * len(th)
    for i in range(m):
        z = [th[n * K + k] for k in range(K)]
        for k in range(K):
            for j in range(n):
                z[k] += rows[i][j] * th[j * K + k]
        z_max = max(z)  # subtract the max: exp overflows above ~709
        exps = [math.exp(zk - z_max) for zk in z]
        total = sum(exps)
        label = int(y[i])
        loss += z_max + math.log(total) - z[label]
        for k in range(K):
            dz = exps[k] / total - (1.0 if k == label else 0.0)
            for j in range(n):
                grad[j * K + k] += dz * rows[i][j]
            grad[n * K + k] += dz
    return loss * c, [g * c for g in grad]
