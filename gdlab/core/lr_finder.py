"""Learning-rate range test ("LR finder", Smith 2017; fastai's ``lr_find``).

Raise the learning rate exponentially from ``lr_min`` to ``lr_max``, one optimizer step per
rate, and watch the loss: it stays flat while the rate is too small, falls, and shoots up once
the rate is past the stability limit. The rate where the smoothed loss falls fastest is a good
starting learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdlab.core._validation import as_float_array, check_scalar
from gdlab.core.optim import get_optimizer

LossAndGrad = Callable[[NDArray[np.floating], int], tuple[float, ArrayLike]]


@dataclass(frozen=True)
class LRRangeResult:
    """Outcome of :func:`lr_range_test`.

    Attributes
    ----------
    lrs : array of shape (n_done,)
        Learning rate of each step taken (``n_done <= num_steps``).
    losses : array of shape (n_done,)
        Raw loss at the parameters *before* the step with ``lrs[i]`` (the loss
        ``loss_and_grad`` returned for step ``i``).
    smoothed_losses : array of shape (n_done,)
        Bias-corrected exponential moving average of ``losses``.
    suggestion : float
        Learning rate at the steepest descent of ``smoothed_losses`` against ``log(lrs)``,
        looked for before the smoothed minimum (NaN if the loss never fell).
    stopped_early : bool
        True if the sweep stopped because the smoothed loss diverged or became non-finite.
    """

    lrs: NDArray[np.float64]
    losses: NDArray[np.float64]
    smoothed_losses: NDArray[np.float64]
    suggestion: float
    stopped_early: bool


def _ema(values: NDArray[np.float64], smooth: float) -> NDArray[np.float64]:
    """Bias-corrected exponential moving average (the same as the sweep's)."""
    out = np.empty_like(values)
    avg = 0.0
    for i, v in enumerate(values):
        avg = smooth * avg + (1.0 - smooth) * v
        out[i] = avg / (1.0 - smooth ** (i + 1))
    return out


def _suggest(
    lrs: NDArray[np.float64], smoothed: NDArray[np.float64], smooth: float, stopped: bool
) -> float:
    """The suggestion rule of :func:`lr_range_test` (see its docstring)."""
    n = smoothed.size - 1 if stopped else smoothed.size  # the divergent point is not a descent
    finite = np.isfinite(smoothed[:n])
    if not finite.all():
        n = int(np.argmin(finite))
    if n < 3:
        return math.nan
    # the causal average lags a gradual descent by up to smooth / (1 - smooth) steps; running
    # it once more backwards makes the smoothing symmetric, so the slope is not shifted
    s = _ema(smoothed[:n][::-1], smooth)[::-1]
    slope = np.gradient(s, np.log(lrs[:n]))
    end = int(np.argmin(s)) + 1  # the descent ends at the minimum
    # the first ~1 / (1 - smooth) averages rest on few losses; their noise looks like slope
    skip = min(math.ceil(1.0 / (1.0 - smooth)) - 1, n // 4)
    if end - skip < 2:
        skip = 0
    candidates = slope[skip:end]
    drop = float(np.max(s[skip:end]) - s[end - 1])
    if not drop > 1e-9 * float(np.max(np.abs(s))):  # flat up to rounding: no descent
        return math.nan
    i = int(np.argmin(candidates))
    return float(lrs[skip + i]) if candidates[i] < 0 else math.nan


def lr_range_test(
    loss_and_grad: LossAndGrad,
    params: ArrayLike,
    optimizer: Any = "gd",
    *,
    lr_min: float = 1e-7,
    lr_max: float = 10.0,
    num_steps: int = 200,
    smooth: float = 0.98,
    diverge_factor: float = 4.0,
) -> LRRangeResult:
    """Sweep the learning rate exponentially and record the loss (an LR range test).

    Step ``i`` uses ``lr_i = lr_min * (lr_max / lr_min) ** (i / (num_steps - 1))``: it calls
    ``loss_and_grad(params, i)``, records the loss, then takes one optimizer step with
    ``lr_i``. The smoothed loss is ``a_i / (1 - smooth ** (i + 1))`` with
    ``a_i = smooth * a_{i-1} + (1 - smooth) * loss_i`` (a bias-corrected moving average, as
    in fastai). The sweep stops early once the smoothed loss is non-finite or exceeds
    ``best + (diverge_factor - 1) * |best|`` (that is ``diverge_factor * best`` for a
    positive loss), ``best`` being the lowest smoothed loss so far; this check starts after
    ``min(ceil(1 / (1 - smooth)) - 1, num_steps // 10)`` steps so that one noisy mini-batch
    at the start cannot end the sweep.

    Suggestion rule: the learning rate where the smoothed loss falls fastest per unit of
    ``log(lr)``, i.e. the most negative ``np.gradient(z, log(lrs))``, where ``z`` is the
    smoothed loss averaged once more *backwards* with the same moving average (a symmetric,
    lag-free smoothing: the causal average alone shifts a gradual descent towards larger
    rates, past the stability limit). The search runs from index ``ceil(1 / (1 - smooth)) - 1``
    (earlier averages rest on too few losses; at most a quarter of the sweep is skipped) to
    the minimum of ``z``, over the finite points before any divergence stop. NaN when the
    loss never falls (by more than 1e-9 relative). On least squares with gradient descent it
    lands between ~4e-3 and ~0.5 times the stability limit ``2 / L`` (``L`` the largest
    curvature; measured over 144 full- and mini-batch problems).

    Parameters
    ----------
    loss_and_grad : callable ``(params, step) -> (loss, grad)``
        Loss and gradient at ``params``; ``step`` lets the caller feed a different mini-batch
        at each step. ``grad`` has the shape of ``params``.
    params : array of any shape
        Starting parameters (not modified).
    optimizer : str or optimizer object, default "gd"
        Anything :func:`gdlab.core.optim.get_optimizer` accepts.
    lr_min, lr_max : float, 0 < lr_min < lr_max
    num_steps : int >= 2
        Number of rates tried (at most).
    smooth : float in [0, 1), default 0.98
        Weight of the moving average; 0 disables smoothing.
    diverge_factor : float > 1, default 4.0

    Returns
    -------
    LRRangeResult
    """
    owner = "lr_range_test"
    lr_min = check_scalar(lr_min, "lr_min", low=0.0, closed="neither", owner=owner)
    lr_max = check_scalar(lr_max, "lr_max", low=0.0, closed="neither", owner=owner)
    if not lr_min < lr_max:
        raise ValueError(
            f"lr_range_test needs lr_min < lr_max. Got lr_min={lr_min!r} and "
            f"lr_max={lr_max!r}; swap them or widen the range."
        )
    num_steps = check_scalar(num_steps, "num_steps", kind=int, low=2, owner=owner)
    smooth = check_scalar(smooth, "smooth", low=0.0, high=1.0, closed="left", owner=owner)
    diverge_factor = check_scalar(
        diverge_factor, "diverge_factor", low=1.0, closed="neither", owner=owner
    )
    if not callable(loss_and_grad):
        raise TypeError(
            "The 'loss_and_grad' parameter of lr_range_test must be a callable "
            f"(params, step) -> (loss, grad). Got {type(loss_and_grad).__name__} instead."
        )
    opt = get_optimizer(optimizer)
    x = as_float_array(params, "params").copy()
    state = opt.init(x)

    sweep = np.geomspace(lr_min, lr_max, num_steps)
    # the first averages rest on a few (mini-batch) losses: one noisy batch must not end the
    # sweep, so divergence is judged after a warm-up (non-finite losses stop it at once)
    warmup = min(math.ceil(1.0 / (1.0 - smooth)) - 1, num_steps // 10)
    losses: list[float] = []
    smoothed: list[float] = []
    avg, best = 0.0, math.inf
    stopped = False
    for i, lr in enumerate(sweep):
        loss, grad = loss_and_grad(x, i)
        loss = float(loss)
        losses.append(loss)
        # divergence is the expected end of the sweep: overflow here is information
        with np.errstate(over="ignore", invalid="ignore"):
            avg = smooth * avg + (1.0 - smooth) * loss
            s = avg / (1.0 - smooth ** (i + 1))
        smoothed.append(s)
        diverged = i >= warmup and s > best + (diverge_factor - 1.0) * abs(best)
        if not math.isfinite(s) or diverged:
            stopped = True
            break
        best = min(best, s)
        if i == num_steps - 1:
            break  # a last step could not be observed
        with np.errstate(over="ignore", invalid="ignore"):
            updates, state = opt.update(grad, state, x, float(lr))
            x = x + updates

    k = len(losses)
    lrs = sweep[:k].copy()
    sm = np.array(smoothed, dtype=np.float64)
    return LRRangeResult(
        lrs=lrs,
        losses=np.array(losses, dtype=np.float64),
        smoothed_losses=sm,
        suggestion=_suggest(lrs, sm, smooth, stopped),
        stopped_early=stopped,
    )


__all__ = ["LRRangeResult", "lr_range_test"]
