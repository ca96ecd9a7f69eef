"""Check an analytic gradient against central finite differences.

    (f(theta + h e_i) - f(theta - h e_i)) / 2h

The error is reported norm-wise, ||g_analytic - g_numeric|| / max(||g_analytic||,
||g_numeric||), which is stable when single components are near zero. In float64 with
h ~ 1e-6 a correct gradient gives ~1e-9 or better; a wrong one gives ~1e-1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core._validation import as_float_array, check_scalar

Array = NDArray[np.floating[Any]]


@dataclass(frozen=True)
class GradCheckResult:
    """Outcome of a gradient check; ``passed`` means rel_error <= rtol."""

    rel_error: float
    max_abs_error: float
    analytic: Array
    numeric: Array
    rtol: float

    @property
    def passed(self) -> bool:
        return self.rel_error <= self.rtol

    def __bool__(self) -> bool:
        return self.passed


def numerical_gradient(f: Callable[[Array], float], theta: Array, h: float = 1e-6) -> Array:
    """Central-difference gradient of a scalar function f at theta (any shape)."""
    theta = np.array(theta, dtype=np.float64)
    grad = np.empty_like(theta)
    flat, gflat = theta.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = float(f(theta))
        flat[i] = old - h
        f_minus = float(f(theta))
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2.0 * h)
    return grad


def check_gradient(
    loss_and_grad: Callable[[Array], tuple[float, Array]],
    theta: Any,
    *,
    h: float = 1e-6,
    rtol: float = 1e-6,
) -> GradCheckResult:
    """Compare ``loss_and_grad(theta)[1]`` with central finite differences of its loss.

    Parameters
    ----------
    loss_and_grad : callable theta -> (loss, grad), grad of theta's shape
    theta : array, the point to check at (float64 recommended)
    h : finite-difference step
    rtol : tolerance on the norm-wise relative error for ``passed``

    Examples
    --------
    >>> import numpy as np
    >>> from gdlab.core.models import LogisticModel
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    >>> model = LogisticModel(n_features=3)
    >>> check_gradient(lambda t: model.loss_and_grad(t, X, y), model.init(0, scale=1.0)).passed
    True
    """
    theta = as_float_array(theta, "theta")
    check_scalar(h, "h", low=0.0, closed="neither", owner="check_gradient")
    _, analytic = loss_and_grad(theta.copy())
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != theta.shape:
        raise ValueError(
            f"The gradient must have the shape of theta {theta.shape}, got {analytic.shape}."
        )
    numeric = numerical_gradient(lambda t: loss_and_grad(t)[0], theta, h)
    diff = analytic - numeric
    scale = max(float(np.linalg.norm(analytic)), float(np.linalg.norm(numeric)), 1e-300)
    return GradCheckResult(
        rel_error=float(np.linalg.norm(diff)) / scale,
        max_abs_error=float(np.max(np.abs(diff))) if diff.size else 0.0,
        analytic=analytic,
        numeric=numeric,
        rtol=rtol,
    )


def check_model_gradient(model: Any, theta: Any, X: Any, y: Any, **kwargs: Any) -> GradCheckResult:
    """Gradient check of ``model.loss_and_grad(theta, X, y, **kwargs)`` (a gdlab model)."""
    rtol = kwargs.pop("rtol", 1e-6)
    h = kwargs.pop("h", 1e-6)
    return check_gradient(lambda t: model.loss_and_grad(t, X, y, **kwargs), theta, h=h, rtol=rtol)
