"""lr='auto': a learning rate derived from the data, the step 1/L.

If the gradient of the full-batch loss is L-Lipschitz (its Hessian's largest eigenvalue is at
most L), a gradient-descent step of lr = 1/L never increases the loss, and lr > 2/L diverges
along the steepest direction: the lessons' "too large a learning rate diverges", measured.

* L of the full batch: ``model.lipschitz(X, sample_weight, alpha)`` when the model knows its
  curvature (the GLM: c * lambda_max(X~^T D X~) + alpha, X~ = [X, 1], c = 2 for MSE, 1/4 for
  sigmoid + BCE, 1/2 for softmax + CCE); otherwise power iteration on Hessian-vector products
  taken as differences of gradients at the starting parameters (any model).
* Mini-batches of b rows (Gower et al., "SGD: general analysis and improved rates", 2019):
  L(b) = n (b - 1) / (b (n - 1)) L + (n - b) / (b (n - 1)) L_max, with L_max the largest
  single-row constant; b = n gives L, b = 1 gives L_max.
* gd, sgd, momentum, nesterov: lr = 1 / L(b).
* adagrad, rmsprop, adam, adamw move every coordinate by about lr whatever the gradient's
  scale, so their rate is a length: 'auto' is the largest coordinate move of gradient
  descent's first step, lr = max_j |g0_j| / L(b) for the starting gradient g0. (The mean
  coordinate would be dragged down by columns that carry no signal, such as digits' blank
  pixels.) RMSprop, without Adam's bias correction, takes first steps 1 / sqrt(1 - alpha)
  times longer, so its rate is multiplied by sqrt(1 - alpha). On mini-batches of b of n rows
  the rate is multiplied by sqrt(b / n): with a constant rate an adaptive method ends in a
  noise ball of about lr around the optimum.

The estimators estimate L on at most 20,000 rows (a seeded subsample beyond).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]

__all__ = ["ADAPTIVE", "auto_lr", "batch_lipschitz", "hessian_lipschitz", "top_eigenvalue"]

#: optimizers whose step is about lr per coordinate (Adam family, Adagrad, RMSprop)
ADAPTIVE = ("Adagrad", "RMSprop", "Adam", "AdamW")


def top_eigenvalue(matvec: Any, d: int, *, iters: int = 100, rtol: float = 1e-6,
                   seed: int = 0) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite operator by power iteration."""
    v = np.random.default_rng(seed).standard_normal(d)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        w = matvec(v)
        new = float(np.linalg.norm(w))
        if new == 0.0 or not math.isfinite(new):
            return new
        v = w / new
        if abs(new - lam) <= rtol * new:
            return new
        lam = new
    return lam


def hessian_lipschitz(loss_and_grad: Any, theta0: Array, *, iters: int = 30) -> float:
    """lambda_max of the Hessian at theta0 from gradient differences (H v ~ (g(t + e v) - g) / e),
    for models that do not state their curvature."""
    theta0 = np.asarray(theta0, dtype=np.float64)
    g0 = loss_and_grad(theta0)[1]
    eps = 1e-4 * (1.0 + float(np.linalg.norm(theta0)))

    def hv(v: Array) -> Array:
        return (loss_and_grad(theta0 + eps * v)[1] - g0) / eps

    return top_eigenvalue(hv, theta0.size, iters=iters, rtol=1e-3)


def batch_lipschitz(L: float, L_max: float | None, n: int, batch_size: int | None) -> float:
    """The expected smoothness L(b) of b-row mini-batches (b=None: the full batch)."""
    b = n if batch_size is None else min(int(batch_size), n)
    if L_max is None or b >= n or n <= 1:
        return L
    return (n * (b - 1) * L + (n - b) * L_max) / (b * (n - 1))


def auto_lr(optimizer: Any, L_b: float, g0: Array, *, n: int = 1,
            batch_size: int | None = None) -> float:
    """The 'auto' rate for this optimizer, given L(b), the starting gradient g0, the rows n
    and the batch size (None: full batch)."""
    if not (L_b > 0 and math.isfinite(L_b)):
        return 0.01
    if type(optimizer).__name__ in ADAPTIVE:
        g0 = np.asarray(g0, dtype=np.float64)
        top = float(np.max(np.abs(g0))) if g0.size else 0.0
        lr = top / L_b if top > 0 and math.isfinite(top) else 1.0 / L_b
        if type(optimizer).__name__ == "RMSprop":
            # no bias correction: the first steps are lr / sqrt(1 - alpha) long (10 lr at 0.99)
            lr *= math.sqrt(1.0 - float(getattr(optimizer, "alpha", 0.99)))
        if batch_size is not None and batch_size < n:
            # a constant rate leaves an adaptive method in a noise ball of about lr around the
            # optimum; sqrt(b / n) shrinks it as the noise of a b-row mean grows
            lr *= math.sqrt(batch_size / n)
        return lr
    return 1.0 / L_b
