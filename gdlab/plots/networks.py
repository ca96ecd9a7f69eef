"""Figures of networks on two-dimensional inputs: the decision boundary as training goes on
(panels and a GIF), every hidden unit's output over the input plane (TensorFlow Playground's
view, from a real fit), and weight histograms per layer. Loss curves: ``plot_history`` in
:mod:`gdlab.plots.curves`.

Snapshots of the parameters come from :class:`Snapshots`, an epoch callback for any gdlab
estimator: ``est = MLPClassifier(callbacks=[snaps := Snapshots([0, 10, 100])]).fit(X, y)``.
"""

from __future__ import annotations

import io as _io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

Array = NDArray[Any]

__all__ = ["Snapshots", "animate_boundary", "hidden_unit_maps", "plot_boundary_over_training",
           "plot_decision_boundary", "plot_hidden_units", "plot_weight_histograms"]

_CMAP = "RdBu"


class Snapshots:
    """Epoch callback keeping a copy of theta after the listed epochs (1-based counts).

    ``epochs=None`` keeps every epoch. ``thetas[i]`` is theta after ``epochs_seen[i]`` epochs.
    """

    def __init__(self, epochs: Sequence[int] | None = None) -> None:
        self.epochs = None if epochs is None else {int(e) for e in epochs}
        self.thetas: list[Array] = []
        self.epochs_seen: list[int] = []

    def __call__(self, state: Any, record: Any) -> None:
        if self.epochs is None or state.epoch in self.epochs:
            self.thetas.append(np.array(state.theta, copy=True))
            self.epochs_seen.append(int(state.epoch))


def _grid(X: Array, resolution: int, pad: float = 0.5) -> tuple[Array, Array, Array]:
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"These figures need two input features: X must have shape "
                         f"(n_samples, 2), got {X.shape}. Project the data first (e.g. PCA).")
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    xs, ys = np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def _class_score(model: Any, theta: Array, P: Array) -> Array:
    """P(class 1) for one output, else the probability of the predicted class, signed by
    whether it is an even or odd class (a diverging map shows the regions)."""
    out = model.forward(theta, P)
    if out.ndim == 1:
        return np.asarray(out)
    k = out.argmax(axis=1)
    return np.where(k % 2 == 1, out.max(axis=1), 1.0 - out.max(axis=1))


def _draw_boundary(ax: Any, model: Any, theta: Array, X: Array, y: Array,
                   resolution: int) -> Any:
    xx, yy, P = _grid(X, resolution)
    score = _class_score(model, theta, P).reshape(xx.shape)
    mesh = ax.pcolormesh(xx, yy, score, cmap=_CMAP, vmin=0.0, vmax=1.0, shading="auto",
                         alpha=0.8)
    ax.contour(xx, yy, score, levels=[0.5], colors="black", linewidths=1.0)
    ax.scatter(X[:, 0], X[:, 1], c=np.asarray(y) % 2, cmap=_CMAP, vmin=-0.3, vmax=1.3,
               edgecolors="black", linewidths=0.4, s=14)
    ax.set_xticks([])
    ax.set_yticks([])
    return mesh


def _model_theta(est: Any) -> tuple[Any, Array]:
    """(model, theta) of a fitted gdlab estimator (an MLP or a GLM estimator)."""
    if hasattr(est, "_fitted_model"):
        return est._fitted_model()
    return est.model_, est.state_.theta


def plot_decision_boundary(est: Any, X: Any, y: Any, *, resolution: int = 200,
                           title: str | None = None) -> Figure:
    """The fitted classifier's P(class 1) (two classes) over the input plane, the 0.5
    contour and the points. X of shape (n_samples, 2), y of shape (n_samples,)."""
    model, theta = _model_theta(est)
    X = np.asarray(X, dtype=np.float64)
    fig = Figure(figsize=(4.6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    mesh = _draw_boundary(ax, model, theta.astype(np.float64), X,
                          np.searchsorted(est.classes_, y), resolution)
    fig.colorbar(mesh, ax=ax, label="P(class 1)")
    ax.set_title(title or f"{type(est).__name__}: decision boundary")
    return fig


def plot_boundary_over_training(model: Any, thetas: Sequence[Array], epochs: Sequence[int],
                                X: Any, y: Any, *, ncols: int = 4,
                                resolution: int = 120) -> Figure:
    """One panel per snapshot: the boundary of ``model`` at each theta (see Snapshots)."""
    if len(thetas) == 0 or len(thetas) != len(epochs):
        raise ValueError(f"Pass one epoch per theta and at least one snapshot; got "
                         f"{len(thetas)} thetas and {len(epochs)} epochs.")
    X = np.asarray(X, dtype=np.float64)
    n = len(thetas)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(2.6 * ncols, 2.6 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, theta, ep in zip(axes, thetas, epochs, strict=False):
        _draw_boundary(ax, model, np.asarray(theta, dtype=np.float64), X, y, resolution)
        ax.set_title(f"after {ep} epoch{'s' if ep != 1 else ''}", fontsize=9)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("Decision boundary during training")
    return fig


def animate_boundary(model: Any, thetas: Sequence[Array], epochs: Sequence[int], X: Any,
                     y: Any, path: str | os.PathLike[str], *, fps: int = 6,
                     resolution: int = 100, dpi: int = 70) -> Path:
    """Write a GIF, one frame per snapshot, of the boundary during training (atomically)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from gdlab.io.atomic import atomic_write_bytes

    p = Path(path)
    if p.suffix.lower() != ".gif":
        raise ValueError(f"animate_boundary writes a GIF: the file name must end in '.gif'. "
                         f"Got {p.name!r}.")
    if not p.parent.exists():
        raise FileNotFoundError(f"Cannot write the animation: folder {str(p.parent)!r} does "
                                "not exist. Create it first.")
    if len(thetas) == 0 or len(thetas) != len(epochs):
        raise ValueError(f"Pass one epoch per theta and at least one snapshot; got "
                         f"{len(thetas)} thetas and {len(epochs)} epochs.")
    X = np.asarray(X, dtype=np.float64)
    images: list[Any] = []
    palette = None
    for theta, ep in zip(thetas, epochs, strict=True):
        fig = Figure(figsize=(4.0, 4.0), dpi=dpi, layout="constrained")
        ax = fig.add_subplot()
        _draw_boundary(ax, model, np.asarray(theta, dtype=np.float64), X, y, resolution)
        ax.set_title(f"after {ep} epoch{'s' if ep != 1 else ''}")
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        frame = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(),
                                 "raw", "RGBA", 0, 1).convert("RGB")
        # one palette (from the first frame) for every frame avoids colour flicker
        if palette is None:
            palette = frame.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
            images.append(palette)
        else:
            images.append(frame.quantize(palette=palette, dither=Image.Dither.NONE))
    buf = _io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(int(1000 / fps), 20), loop=0, optimize=False)
    atomic_write_bytes(p, buf.getvalue())
    return p


def hidden_unit_maps(est: Any, X: Any, *, resolution: int = 80
                     ) -> tuple[Array, Array, list[Array]]:
    """(xx, yy, maps): each hidden layer's outputs over the input plane, maps[l] of shape
    (resolution, resolution, n_l), from the fitted network (no dropout)."""
    model, theta = _model_theta(est)
    xx, yy, P = _grid(np.asarray(X, dtype=np.float64), resolution)
    outs = model.layer_outputs(theta.astype(np.float64), P)[:-1]
    return xx, yy, [A.reshape(*xx.shape, A.shape[1]) for _, A in outs]


def plot_hidden_units(est: Any, X: Any, y: Any, *, resolution: int = 80,
                      max_units: int = 8) -> Figure:
    """TensorFlow Playground's view from a real fit: one row per hidden layer, one heatmap
    per unit (its activation over the input plane, at most ``max_units`` per layer), and the
    output in the last row."""
    xx, yy, maps = hidden_unit_maps(est, X, resolution=resolution)
    model, theta = _model_theta(est)
    X = np.asarray(X, dtype=np.float64)
    ncols = max(min(max_units, m.shape[2]) for m in maps) if maps else 1
    nrows = len(maps) + 1
    fig = Figure(figsize=(1.7 * ncols + 0.6, 1.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r, m in enumerate(maps):
        for c in range(ncols):
            ax = axes[r, c]
            if c >= m.shape[2]:
                ax.set_visible(False)
                continue
            v = m[:, :, c]
            lim = float(np.abs(v).max()) or 1.0
            ax.pcolormesh(xx, yy, v, cmap=_CMAP, vmin=-lim, vmax=lim, shading="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"layer {r + 1}, unit {c + 1}", fontsize=7)
    ax_out = axes[-1, 0]
    _draw_boundary(ax_out, model, theta.astype(np.float64), X,
                   np.searchsorted(est.classes_, y) if hasattr(est, "classes_") else y,
                   resolution)
    ax_out.set_title("output", fontsize=7)
    for c in range(1, ncols):
        axes[-1, c].set_visible(False)
    fig.suptitle(f"Hidden units over the input plane ({', '.join(model.activation)})",
                 fontsize=10)
    return fig


def plot_weight_histograms(est: Any, *, bins: int = 30) -> Figure:
    """One panel per layer: histograms of the weights W_l and the biases b_l."""
    coefs, intercepts = est.coefs_, est.intercepts_
    n = len(coefs)
    fig = Figure(figsize=(3.0 * n, 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
    for i, (ax, W, b) in enumerate(zip(axes, coefs, intercepts, strict=True)):
        ax.hist(np.ravel(W), bins=bins, color="C0", alpha=0.8, label=f"W {W.shape}")
        ax.hist(np.ravel(b), bins=bins, color="C3", alpha=0.7, label=f"b {b.shape}")
        ax.set_title(f"layer {i + 1}" + (" (output)" if i == n - 1 else ""), fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("Weights per layer")
    return fig
