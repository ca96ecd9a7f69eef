"""Each canonical loss's point-wise step, written once: per-sample loss and dl/dz from logits.

For the three canonical pairs the derivative is the identity the lessons derive three times
(dl/dz = y_hat - y, times 2 for MSE). These functions are the single definition of those
steps; :mod:`gdlab.core.losses` reduces them over a batch, and the engines call them too:

- :func:`mse_point` and :func:`bce_point` use only arithmetic and NumPy ufuncs (``np.where``
  included), so they run on arrays in NumPy and on scalars inside numba (the compiled kernels
  register them: :mod:`gdlab.engines.kernels._pointwise_nb`);
- :func:`cce_point` works on rows of an (m, K) array; the NumPy kernels call it, and the
  compiled softmax passes, which fuse it with the product and a polynomial exp, are tested
  equal to it (``tests/test_pointwise.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["bce_point", "cce_point", "mse_point"]

A = Any  # arrays or scalars


def mse_point(z: A, y: A) -> tuple[A, A]:
    """Identity + MSE: ``l = (z - y)^2`` and ``dl/dz = 2 (z - y)``."""
    d = z - y
    return d * d, 2.0 * d


def bce_point(z: A, y: A) -> tuple[A, A]:
    """Sigmoid + BCE from logits: ``l = logaddexp(0, z) - y z`` and ``dl/dz = sigmoid(z) - y``.

    Never ``log(sigmoid(z))``: with ``e = exp(-|z|)`` in (0, 1], ``logaddexp(0, z) =
    max(z, 0) + log1p(e)`` and ``sigmoid(z) = 1 / (1 + e)`` for z >= 0, ``e / (1 + e)``
    otherwise, finite for |z| ~ 1000; one exp serves both (np.logaddexp + expit cost ~3x more
    per element).
    """
    e = np.exp(-np.abs(z))
    q = 1.0 / (1.0 + e)
    return np.maximum(z, 0.0) + np.log1p(e) - y * z, np.where(z >= 0.0, q, e * q) - y


def cce_point(Z: A, Y: A) -> tuple[A, A]:
    """Softmax + CCE from logits, row by row: ``l = logsumexp(z) sum_k Y_k - sum_k Y_k z_k``
    and ``dl/dz = softmax(z) - Y``.

    Z : array of shape (m, K); Y : one-hot rows or probabilities, shape (m, K).
    Returns l of shape (m,) and dl/dz of shape (m, K).
    """
    shifted = Z - Z.max(axis=1, keepdims=True)  # subtract the row max: exp overflows above ~709
    E = np.exp(shifted)
    total = E.sum(axis=1)
    # logsumexp(z) - z_k = log(total) - shifted_k: the max cancels
    losses = np.log(total) * Y.sum(axis=1) - np.einsum("ij,ij->i", Y, shifted)
    return losses, E / total[:, None] - Y
