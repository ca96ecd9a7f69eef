"""Figures about training runs: the learning-rate range test."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from gdlab.core.lr_finder import LRRangeResult


def plot_lr_range(result: LRRangeResult, ax: Axes | None = None) -> Figure:
    """Loss against learning rate (log x axis) from :func:`gdlab.core.lr_finder.lr_range_test`.

    Raw losses are drawn faintly, the smoothed loss on top, and the suggested learning rate
    as a dashed vertical line with a marker on the smoothed curve (label "suggested lr = ...").

    Parameters
    ----------
    result : LRRangeResult
    ax : matplotlib Axes, optional
        Draw here; by default a new :class:`matplotlib.figure.Figure` is made.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig = Figure(figsize=(6.0, 4.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()  # type: ignore[assignment]  # matplotlib's stub: Figure | SubFigure | None
    lrs = np.asarray(result.lrs)
    ax.plot(lrs, result.losses, color="0.7", lw=0.8, label="loss")
    ax.plot(lrs, result.smoothed_losses, color="C0", lw=1.8, label="smoothed loss")
    if math.isfinite(result.suggestion):
        i = int(np.argmin(np.abs(np.log(lrs) - math.log(result.suggestion))))
        label = f"suggested lr = {result.suggestion:.3g}"
        ax.axvline(result.suggestion, color="C3", ls="--", lw=1.2, label=label)
        ax.plot([result.suggestion], [result.smoothed_losses[i]], "o", color="C3", ms=7)
    ax.set_xscale("log")
    finite = np.asarray(result.smoothed_losses)[np.isfinite(result.smoothed_losses)]
    if finite.size:
        # keep the divergent tail from squashing the interesting part of the curve
        lo, hi = float(finite.min()), float(finite.max())
        raw = np.asarray(result.losses)
        lo = min(lo, float(np.nanmin(raw[np.isfinite(raw)]))) if np.isfinite(raw).any() else lo
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss")
    stop = " (stopped: loss diverged)" if result.stopped_early else ""
    ax.set_title(f"Learning-rate range test{stop}")
    ax.legend(loc="best")
    return fig
