"""Training curves: loss per epoch for several runs, side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def plot_loss_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    ax: Axes | None = None,
    title: str = "Training loss per epoch",
    log_y: bool = True,
    ylabel: str = "loss",
    group_by_prefix: bool = True,
) -> Figure:
    """One line per run. ``curves`` maps a label (e.g. "adam / mini (lr=0.01)") to values.

    With ``group_by_prefix`` labels sharing the text after ' / ' get one subplot each
    (e.g. one panel per batch mode), which keeps 20 curves readable.
    """
    groups: dict[str, dict[str, Sequence[float]]] = {}
    for label, values in curves.items():
        key = label.split(" / ", 1)[1].split(" (")[0] if (group_by_prefix and " / " in label) \
            else ""
        groups.setdefault(key, {})[label] = values
    if ax is not None:
        fig = ax.figure
        axes = [ax]
        groups = {"": dict(curves)}
    else:
        fig = Figure(figsize=(5.2 * len(groups), 4.2), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(1, len(groups), squeeze=False)[0]))
    for a, (key, group) in zip(axes, groups.items(), strict=True):
        for label, values in group.items():
            v = np.asarray(values, dtype=float)
            a.plot(np.arange(1, v.size + 1), v, label=label.split(" / ")[0] + (
                " " + label.split(" (")[-1].rstrip(")") if " (" in label else ""), lw=1.6)
        if log_y and all(np.all(np.asarray(v, float)[np.isfinite(v)] > 0)
                         for v in group.values()):
            a.set_yscale("log")
        a.set_xlabel("epoch")
        a.set_ylabel(ylabel)
        a.set_title(f"{title}{': ' + key if key else ''}", fontsize=10)
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    return fig  # type: ignore[return-value]  # matplotlib's stub types subfigures' parent loosely


def plot_history(history: Sequence[Mapping[str, Any]], *, title: str = "Fit history") -> Figure:
    """Train (and validation) loss and the learning rate per epoch of one fit."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax_loss, ax_lr = fig.subplots(1, 2)
    epochs = [h["epoch"] + 1 for h in history]
    ax_loss.plot(epochs, [h["loss"] for h in history], label="train loss")
    if any(h.get("val_loss") is not None for h in history):
        ax_loss.plot(epochs, [h["val_loss"] for h in history], label="validation loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_lr.plot(epochs, [h["lr"] for h in history], color="tab:green")
    ax_lr.set_xlabel("epoch")
    ax_lr.set_ylabel("learning rate")
    ax_lr.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_softmax_losses(curves: Sequence[Any], *, target: float = 0.9,
                        title: str = "Softmax regression on digits: which loss?") -> Figure:
    """Held-out accuracy and gradient norm per epoch for each loss (CCE vs MSE vs BCE)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_acc, ax_g = fig.subplots(1, 2)
    names = {"cce": "categorical cross-entropy", "mse": "MSE on softmax outputs",
             "bce": "BCE on softmax outputs"}
    for c in curves:
        epochs = np.arange(1, len(c.test_accuracy) + 1)
        hit = c.epochs_to(target)
        label = f"{names.get(c.loss, c.loss)} ({target:.0%} at epoch {hit})"
        ax_acc.plot(epochs, c.test_accuracy, label=label, lw=1.8)
        ax_g.plot(epochs, c.grad_norm, label=names.get(c.loss, c.loss), lw=1.8)
    ax_acc.axhline(target, color="grey", ls=":", lw=1)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("held-out accuracy")
    ax_acc.set_ylim(0.6, 1)
    ax_acc.legend(fontsize=8, loc="lower right")
    ax_acc.grid(alpha=0.3)
    ax_g.set_yscale("log")
    ax_g.set_xlabel("epoch")
    ax_g.set_ylabel("gradient norm")
    ax_g.legend(fontsize=8)
    ax_g.grid(alpha=0.3)
    fig.suptitle(title)
    return fig
