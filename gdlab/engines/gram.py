"""The Gram engine: full-batch linear regression in O(n_features^2) per step.

For MSE, ``sum_i s_i (x_i^T W + b - y_i)^2`` depends on the data only through
``A = X1^T S X1``, ``c = X1^T S Y``, ``Y^T S Y`` and ``sum(S)`` (``X1 = [X, 1]``, S the
sample weights), so once they are cached a full-batch step costs no pass over X:
``loss = (T^T A T - 2 T^T c + Y^T S Y) / sum(S)`` and ``grad = 2 (A T - c) / sum(S)`` with
``T = [W; b]``. The loss loses relative precision (~1e-16 Y^T S Y / loss) near a perfect fit;
the gradient does not. ``LinearRegression(precompute=...)`` chooses it; mini-batches and
every other model go on to the fallback engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core.models import GLM

Array = NDArray[Any]

__all__ = ["GramEngine"]


class GramEngine:
    """Cached X^T X for the full batch of ``X`` (n_samples, n_features); other batches go to
    ``fallback`` (an engine or None for the model's formula)."""

    name = "gram"

    def __init__(self, X: Array, fallback: Any = None) -> None:
        self.X = X
        self.fallback = fallback
        self._cache: tuple[Array, Array, float, float] | None = None

    def available(self) -> bool:
        return True

    def _gram(self, y: Array, w: Array | None) -> tuple[Array, Array, float, float]:
        if self._cache is None:
            X = self.X
            m, n = X.shape
            Y = y.reshape(m, -1).astype(X.dtype, copy=False)
            # weighted rows need one scaled copy of X; unweighted ones none
            Xw = X if w is None else X * w[:, None]
            s = np.ones(m, X.dtype) if w is None else w
            Yw = Y * s[:, None]
            A = np.empty((n + 1, n + 1), dtype=np.float64)
            A[:n, :n] = Xw.T @ X
            A[:n, n] = A[n, :n] = Xw.sum(axis=0)
            A[n, n] = s.sum()
            c = np.vstack([X.T @ Yw, Yw.sum(axis=0, keepdims=True)])
            self._cache = (A, c, float(np.sum(Yw * Y)), float(s.sum()))
        return self._cache

    def loss_and_grad(self, model: Any, theta: Array, X: Array, y: Array,
                      sample_weight: Array | None) -> tuple[float, Array] | None:
        if not (X is self.X and isinstance(model, GLM) and model.loss == "mse"
                and model.layout == "rows"):
            if self.fallback is None:
                return None
            return self.fallback.loss_and_grad(model, theta, X, y, sample_weight)
        A, c, yy, total = self._gram(y, sample_weight)
        n = model.n_features
        W, b = model.unpack(theta)
        T = np.vstack([W, b[None, :]])  # (n+1, K): [W; b]
        AT = A @ T
        loss = max(float(np.sum(T * AT) - 2.0 * np.sum(T * c) + yy), 0.0) / total
        G = 2.0 * (AT - c) / total
        loss, grad = model.finish(loss, G[:n], G[n], W, 0.0)
        return loss, grad.astype(theta.dtype, copy=False)

    def epoch_runner(self, problem: Any, optimizer: Any, config: Any,
                     step_callbacks: Any = ()) -> Any:
        if self.fallback is None:
            return None
        return self.fallback.epoch_runner(problem, optimizer, config, step_callbacks)
