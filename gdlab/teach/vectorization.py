"""The vectorization lesson, measured: loop twins against one matrix product.

The lesson (L1) claims a 10-100x speed-up from vectorization; :func:`vectorization_speedup`
measures it on this machine for the linear-regression gradient, loop
(:func:`gdlab.teach.loops.linear_loss_grad_loop`) against vectorized
(:meth:`gdlab.core.models.GLM.loss_and_grad`), in paired rounds (each round times both).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab.core._validation import check_scalar
from gdlab.core.models import LinearModel
from gdlab.teach._bench import paired
from gdlab.teach.loops import linear_loss_grad_loop


def vectorization_speedup(ms: Sequence[int] = (100, 1_000, 10_000, 100_000), n: int = 10, *,
                          repeats: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """For each sample count m: median loop time, vectorized time and their ratio.

    The loop gets X as Python lists (its natural input); the vectorized side gets arrays.
    Both compute the same MSE gradient (checked equal to 1e-9 relative before timing).
    """
    check_scalar(n, "n", kind=int, low=1, owner="vectorization_speedup")
    check_scalar(repeats, "repeats", kind=int, low=1, owner="vectorization_speedup")
    rng = np.random.default_rng(seed)
    rows = []
    for m in ms:
        check_scalar(m, "m", kind=int, low=1, owner="vectorization_speedup")
        X = rng.standard_normal((m, n))
        y = X @ rng.standard_normal(n) + rng.standard_normal(m)
        model = LinearModel(n_features=n)
        theta = model.init(rng, scale=1.0)
        X_list, y_list, theta_list = X.tolist(), y.tolist(), theta.tolist()
        loop_grad = np.array(linear_loss_grad_loop(X_list, y_list, theta_list)[1])
        vec_grad = model.loss_and_grad(theta, X, y)[1]
        np.testing.assert_allclose(loop_grad, vec_grad, rtol=1e-9)
        # small m: repeat the vectorized call so its time is far above the timer's resolution
        inner = max(1, 20_000 // m)

        def vectorized(inner: int = inner, X: Any = X, y: Any = y, theta: Any = theta,
                       model: Any = model) -> None:
            for _ in range(inner):
                model.loss_and_grad(theta, X, y)

        def loop(X_list: Any = X_list, y_list: Any = y_list, t: Any = theta_list) -> None:
            linear_loss_grad_loop(X_list, y_list, t)

        times = paired({"loop": loop, "vectorized": vectorized}, repeats=repeats, warmup=1,
                       pause_s=0.05)
        loop_s, vec_s = times.median("loop"), times.median("vectorized") / inner
        rows.append({"m": m, "n": n, "loop_s": loop_s, "vectorized_s": vec_s,
                     "speedup": loop_s / vec_s})
    return rows
