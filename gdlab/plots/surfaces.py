"""Pictures of descent on a function: paths on a map, a 3-D surface, a 1-D curve, basins,
value-vs-step curves and an animated GIF.

Each function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
state); save it with :func:`gdlab.plots._save.save_figure` (PNG, SVG, PDF).
:func:`animate_descent` writes a GIF itself. d2l's ``show_trace_2d`` is the model: contour
lines of f, the path as connected points, start and end marked.
"""

from __future__ import annotations

import io as _io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from numpy.typing import NDArray

from gdlab.functions.descent import (
    DIVERGED,
    ESCAPED,
    NOT_CONVERGED,
    OTHER_CRITICAL,
    BasinResult,
    DescentResult,
    MultiStartResult,
    Objective,
    as_objective,
)

__all__ = [
    "animate_descent",
    "plot_basins",
    "plot_descent_1d",
    "plot_surface_3d",
    "plot_trajectories",
    "plot_values",
]

# bright path colours that stay visible on the viridis map (each drawn with a black outline)
PATH_COLORS = ("#ff3b30", "#ffffff", "#ff9f0a", "#ff4fd8", "#30d5ff", "#ffe600", "#7dff6a",
               "#c08bff")
_STROKE = [patheffects.withStroke(linewidth=3.2, foreground="black")]
# basin colours: minima first (tab10), then the other outcomes
MINIMUM_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#17becf", "#bcbd22", "#7f7f7f")
OUTCOME_COLORS = {NOT_CONVERGED: "#d9d9d9", ESCAPED: "#f3e3b5", DIVERGED: "#000000",
                  OTHER_CRITICAL: "#6a3d9a"}
CRIT_STYLE = {"minimum": ("*", "white", 15), "maximum": ("^", "#ff3b30", 10),
              "saddle": ("X", "#ffe600", 10), "degenerate": ("D", "#bbbbbb", 8)}


def _results(results: Any) -> list[DescentResult]:
    if isinstance(results, DescentResult):
        out = [results]
    elif isinstance(results, MultiStartResult):
        out = [results.recorded[i] for i in sorted(results.recorded)]
    else:
        out = list(results)
    if not out or not all(isinstance(r, DescentResult) for r in out):
        raise ValueError(
            "Expected a DescentResult, a list of them or a MultiStartResult with recorded "
            f"trajectories; got {type(results).__name__} with {len(out)} usable item(s). Run "
            "minimize(..., record=True) or minimize_many(..., record=5)."
        )
    if any(r.points is None for r in out):
        raise ValueError("A result has no trajectory; run minimize with record=True.")
    return out


def _box(obj: Objective, results: Sequence[DescentResult], domain: Any,
         d: int) -> NDArray[np.float64]:
    if domain is not None:
        box = np.asarray(domain, dtype=np.float64).reshape(d, 2)
    elif obj.domain is not None:
        box = np.asarray(obj.domain, dtype=np.float64)
    else:
        pts = np.concatenate([r.points for r in results if r.points is not None])
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = np.maximum(0.15 * (hi - lo), 0.5)
        box = np.stack([lo - pad, hi + pad], axis=1)
    return box


def _check_dims(obj: Objective, results: Sequence[DescentResult], want: tuple[int, ...],
                what: str) -> int:
    d = obj.n_vars if obj.n_vars is not None else results[0].points.shape[1]  # type: ignore[union-attr]  # points is set once a run ends
    if d not in want:
        raise ValueError(
            f"{what} draws functions of {' or '.join(map(str, want))} variable(s); this one has "
            f"{d}. Use plot_values for any dimension."
        )
    return int(d)


def _mesh(obj: Objective, box: NDArray[np.float64], resolution: int) -> tuple[Any, Any, Any]:
    xs = np.linspace(box[0, 0], box[0, 1], resolution)
    ys = np.linspace(box[1, 0], box[1, 1], resolution)
    X, Y = np.meshgrid(xs, ys)
    Z = np.asarray(obj.value(np.stack([X, Y], axis=-1)), dtype=float)
    return X, Y, Z


def _extent(box: NDArray[np.float64]) -> tuple[float, float, float, float]:
    return (float(box[0, 0]), float(box[0, 1]), float(box[1, 0]), float(box[1, 1]))


def _axis_names(obj: Objective, d: int) -> list[str]:
    return list(obj.variables) if len(obj.variables) == d else [f"x{i + 1}" for i in range(d)]


def _title(obj: Objective) -> str:
    return obj.surface.name if obj.surface is not None else f"f = {obj.name}"


def _mark_critical(ax: Axes, obj: Objective, box: NDArray[np.float64] | None) -> None:
    """Known minima / maxima / saddles of a named surface, inside the box."""
    if obj.surface is None:
        return
    s = obj.surface
    for kind, items in (("minimum", s.minima), ("maximum", s.maxima), ("saddle", s.saddles)):
        marker, color, size = CRIT_STYLE[kind]
        for pt, _ in items:
            if box is not None and not all(lo <= v <= hi for v, (lo, hi) in zip(pt, box,
                                                                               strict=True)):
                continue
            ax.plot(*pt, marker=marker, color=color, markersize=size * 0.8,
                    markeredgecolor="black", linestyle="none", zorder=4)


def plot_trajectories(
    f: Any,
    results: Any,
    *,
    domain: Any = None,
    kind: str = "contour",
    resolution: int = 200,
    ax: Axes | None = None,
    title: str | None = None,
    show_critical: bool = True,
) -> Figure:
    """Paths of one or several descents on a contour map or heatmap of a 2-D function.

    Parameters
    ----------
    f : surface name, expression, SymbolicFunction, Surface or callable
    results : DescentResult, list of DescentResult, or MultiStartResult (recorded starts)
    domain : 2 pairs (lo, hi), optional
        Default: the surface's domain, else the paths' bounding box with a margin.
    kind : {"contour", "heatmap"}
    resolution : int
        Grid points per axis for the map.
    show_critical : bool
        Mark a named surface's minima (stars), maxima (triangles) and saddles (crosses).

    Returns
    -------
    Figure
        The legend reads ``"adam lr=0.05: converged (312 steps)"`` per path.
    """
    obj = as_objective(f)
    res = _results(results)
    _check_dims(obj, res, (2,), "plot_trajectories")
    if kind not in ("contour", "heatmap"):
        raise ValueError(f"The 'kind' parameter of plot_trajectories must be 'contour' or "
                         f"'heatmap'. Got {kind!r} instead.")
    box = _box(obj, res, domain, 2)
    if ax is None:
        fig = Figure(figsize=(7.6, 6.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure  # type: ignore[assignment]  # matplotlib's stub: Figure | SubFigure
    X, Y, Z = _mesh(obj, box, resolution)
    if kind == "heatmap":
        im: Any = ax.imshow(Z, origin="lower", extent=_extent(box), aspect="auto",
                            cmap="viridis")
    else:
        im = ax.contourf(X, Y, Z, levels=30, cmap="viridis")
        ax.contour(X, Y, Z, levels=15, colors="black", linewidths=0.4, alpha=0.5)
    fig.colorbar(im, ax=ax, label="f", shrink=0.9)
    if show_critical:
        _mark_critical(ax, obj, box)
    for i, r in enumerate(res):
        color = PATH_COLORS[i % len(PATH_COLORS)]
        P = r.points
        assert P is not None
        ax.plot(P[:, 0], P[:, 1], "-", color=color, lw=1.8, path_effects=_STROKE, zorder=5,
                label=r.legend)
        n_marks = min(len(P), 40)  # dots along the path show the step sizes
        sel = np.unique(np.linspace(0, len(P) - 1, n_marks).astype(int))
        ax.plot(P[sel, 0], P[sel, 1], "o", color=color, markersize=3, markeredgecolor="black",
                markeredgewidth=0.4, zorder=6)
        ax.plot(P[0, 0], P[0, 1], "o", color=color, markersize=9, markeredgecolor="black",
                zorder=7)
        ax.plot(P[-1, 0], P[-1, 1], "s", color=color, markersize=8, markeredgecolor="black",
                zorder=7)
    ax.set_xlim(box[0])
    ax.set_ylim(box[1])
    names = _axis_names(obj, 2)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(title or f"{_title(obj)}: descent paths (circle = start, square = end)",
                 fontsize=11)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return fig


def plot_surface_3d(
    f: Any,
    results: Any,
    *,
    domain: Any = None,
    resolution: int = 80,
    elev: float = 35.0,
    azim: float = -60.0,
    title: str | None = None,
) -> Figure:
    """The 2-D function as a 3-D surface with the path(s) drawn on it."""
    obj = as_objective(f)
    res = _results(results)
    _check_dims(obj, res, (2,), "plot_surface_3d")
    box = _box(obj, res, domain, 2)
    fig = Figure(figsize=(8.0, 6.4), layout="constrained")
    # drawing order fixed by zorder, so the paths are never hidden behind the surface
    ax = fig.add_subplot(projection="3d", computed_zorder=False)
    X, Y, Z = _mesh(obj, box, resolution)
    ax.plot_surface(X, Y, Z, cmap="viridis", alpha=0.7, linewidth=0, antialiased=True,
                    rstride=1, cstride=1)
    for i, r in enumerate(res):
        P = r.points
        assert P is not None and r.values is not None
        color = ("#d62728", "#111111", "#ff7f0e", "#e377c2", "#17becf")[i % 5]
        ax.plot(P[:, 0], P[:, 1], r.values, "-", color=color, lw=2.2, zorder=10, label=r.legend)
        ax.scatter([P[0, 0]], [P[0, 1]], [r.values[0]], color=color, s=40, depthshade=False)
        ax.scatter([P[-1, 0]], [P[-1, 1]], [r.values[-1]], color=color, s=50, marker="s",
                   depthshade=False)
    names = _axis_names(obj, 2)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_zlabel("f")
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(title or f"{_title(obj)}: surface and descent path", fontsize=11)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_descent_1d(
    f: Any,
    results: Any,
    *,
    domain: Any = None,
    title: str | None = None,
) -> Figure:
    """A 1-D function's curve with each descent's steps as numbered points on it, and the
    derivative below (the lesson's picture: steps shrink as the slope flattens)."""
    obj = as_objective(f)
    res = _results(results)
    _check_dims(obj, res, (1,), "plot_descent_1d")
    box = _box(obj, res, domain, 1)
    fig = Figure(figsize=(8.0, 6.0), layout="constrained")
    ax, ax_d = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
    xs = np.linspace(box[0, 0], box[0, 1], 600)
    f_vals, g_vals = obj.value_and_grad(xs[:, None])
    ax.plot(xs, f_vals, color="black", lw=1.5, label="f(x)")
    ax_d.plot(xs, np.asarray(g_vals)[:, 0], color="black", lw=1.2, label="f'(x)")
    ax_d.axhline(0.0, color="grey", lw=0.7)
    colors = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd")
    for i, r in enumerate(res):
        P = r.points
        assert P is not None and r.values is not None
        c = colors[i % len(colors)]
        x = P[:, 0]
        ax.plot(x, r.values, "-o", color=c, markersize=4, lw=0.9, alpha=0.85, label=r.legend)
        ax.plot(x[0], r.values[0], "o", color=c, markersize=10, markeredgecolor="black")
        ax.plot(x[-1], r.values[-1], "s", color=c, markersize=9, markeredgecolor="black")
        _, g = obj.value_and_grad(x[:, None])
        ax_d.plot(x, np.asarray(g)[:, 0], "o", color=c, markersize=3)
    ax.set_xlim(box[0])
    # the curve sets the scale; steps that leave the box must not squash it
    fin = np.asarray(f_vals, dtype=float)
    fin = fin[np.isfinite(fin)]
    if fin.size:
        lo, hi = float(fin.min()), float(fin.max())
        pad = 0.08 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
        gfin = np.asarray(g_vals, dtype=float)[:, 0]
        gfin = gfin[np.isfinite(gfin)]
        glo, ghi = float(gfin.min()), float(gfin.max())
        gpad = 0.08 * (ghi - glo or 1.0)
        ax_d.set_ylim(glo - gpad, ghi + gpad)
    ax.set_ylabel("f(x)")
    ax_d.set_ylabel("f'(x)")
    ax_d.set_xlabel(_axis_names(obj, 1)[0])
    ax.set_title(title or f"{_title(obj)}: steps of gradient descent "
                 "(circle = start, square = end)", fontsize=11)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    ax_d.grid(alpha=0.3)
    return fig


def _outcome_color(label: int) -> str:
    if label >= 0:
        return MINIMUM_COLORS[label % len(MINIMUM_COLORS)]
    return OUTCOME_COLORS[label]


def plot_basins(b: BasinResult, *, title: str | None = None, contours: bool = True) -> Figure:
    """Each start coloured by its outcome (minimum reached, escaped, not converged, diverged),
    critical points marked by kind, the share of each outcome and 2/lambda_max in the legend."""
    d = b.starts.shape[1]
    if d not in (1, 2):
        raise ValueError(f"plot_basins draws 1-D or 2-D problems; this one has {d} variables.")
    labels_present = [lab for lab in [*range(len(b.minima)), NOT_CONVERGED, ESCAPED, DIVERGED,
                                      OTHER_CRITICAL] if np.any(b.labels == lab)]
    fig = Figure(figsize=(10.0, 6.0) if d == 2 else (10.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    if d == 2:
        order = sorted(set(int(v) for v in labels_present))
        lut = {lab: k for k, lab in enumerate(order)}
        cmap = ListedColormap([_outcome_color(lab) for lab in order])
        if b.grid_shape is not None:
            g = b.grid_shape[0]
            codes = np.vectorize(lut.get)(b.labels).reshape(g, g)
            # starts are on an 'ij' grid: rows follow x; imshow wants rows along y
            ax.imshow(codes.T, origin="lower", extent=_extent(b.domain), aspect="auto",
                      cmap=cmap, vmin=-0.5, vmax=len(order) - 0.5, interpolation="nearest")
        else:
            ax.scatter(b.starts[:, 0], b.starts[:, 1], c=[_outcome_color(v) for v in b.labels],
                       s=10, linewidths=0)
        if contours and b.function is not None:
            xs = np.linspace(b.domain[0, 0], b.domain[0, 1], 150)
            ys = np.linspace(b.domain[1, 0], b.domain[1, 1], 150)
            X, Y = np.meshgrid(xs, ys)
            Z = b.function.value(np.stack([X, Y], axis=-1))
            ax.contour(X, Y, Z, levels=15, colors="black", linewidths=0.5, alpha=0.45)
        for c in b.critical_points:
            marker, color, size = CRIT_STYLE[c.kind]
            ax.plot(c.point[0], c.point[1], marker=marker, color=color, markersize=size,
                    markeredgecolor="black", linestyle="none", zorder=5)
        ax.set_xlim(b.domain[0])
        ax.set_ylim(b.domain[1])
        names = b.variables if len(b.variables) == 2 else ("x1", "x2")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    else:
        x = b.starts[:, 0]
        order_x = np.argsort(x)
        if b.function is not None:
            xs = np.linspace(b.domain[0, 0], b.domain[0, 1], 600)
            ax.plot(xs, b.function.value(xs[:, None]), color="black", lw=1.4, zorder=2)
            y = b.function.value(x[:, None])
        else:
            y = np.zeros_like(x)
        ax.scatter(x[order_x], y[order_x], c=[_outcome_color(int(v)) for v in
                                               b.labels[order_x]], s=28, zorder=3,
                   edgecolors="black", linewidths=0.3)
        for c in b.critical_points:
            marker, color, size = CRIT_STYLE[c.kind]
            ax.plot(c.point[0], c.value, marker=marker, color=color, markersize=size,
                    markeredgecolor="black", linestyle="none", zorder=5)
        ax.set_xlim(b.domain[0])
        ax.set_xlabel(b.variables[0] if b.variables else "x")
        ax.set_ylabel("f (at the start)")
        ax.grid(alpha=0.3)
    handles: list[Any] = []
    for lab in labels_present:
        share = float(np.mean(b.labels == lab))
        text = f"{b.outcome_name(lab)}: {100 * share:.1f}%"
        if lab >= 0:
            m = b.minima[lab]
            text += f"\n   f={m.value:.4g}, 2/lambda_max={m.max_stable_lr:.3g}"
        handles.append(Patch(facecolor=_outcome_color(lab), edgecolor="black", label=text))
    for kind in ("minimum", "maximum", "saddle", "degenerate"):
        if any(c.kind == kind for c in b.critical_points):
            marker, color, size = CRIT_STYLE[kind]
            handles.append(Line2D([], [], marker=marker, color=color, markeredgecolor="black",
                                  linestyle="none", markersize=size * 0.8, label=kind))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              title="outcome (share of starts)", title_fontsize=8, frameon=False)
    n = len(b.labels)
    ax.set_title(title or f"{b.name}: where {n} starts end ({b.descent.optimizer} "
                 f"lr={b.descent.lr:g}, {b.steps} steps)", fontsize=11)
    return fig


def plot_values(results: Any, *, log: bool | None = None, title: str | None = None) -> Figure:
    """f(x_k) and |grad f(x_k)| against the step k, one line per descent (any dimension).

    The value axis is logarithmic when every value is positive (``log=None``), the gradient
    axis always (zeros are dropped).
    """
    res = _results(results)
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    ax_v, ax_g = fig.subplots(1, 2)
    colors = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
              "#17becf")
    all_v = np.concatenate([r.values for r in res if r.values is not None])
    finite = all_v[np.isfinite(all_v)]
    use_log = bool(finite.size and np.all(finite > 0)) if log is None else log
    for i, r in enumerate(res):
        assert r.values is not None and r.grad_norms is not None
        k = np.arange(len(r.values))
        c = colors[i % len(colors)]
        ax_v.plot(k, r.values, color=c, lw=1.5, label=r.legend)
        gn = np.where(r.grad_norms > 0, r.grad_norms, np.nan)
        ax_g.plot(k, gn, color=c, lw=1.5, label=r.label)
    if use_log:
        ax_v.set_yscale("log")
    ax_g.set_yscale("log")
    ax_v.set_xlabel("step k")
    ax_v.set_ylabel("f(x_k)")
    ax_g.set_xlabel("step k")
    ax_g.set_ylabel("|grad f(x_k)|")
    ax_v.set_title("value per step", fontsize=10)
    ax_g.set_title("gradient norm per step", fontsize=10)
    for a in (ax_v, ax_g):
        a.grid(alpha=0.3, which="both")
    ax_v.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def animate_descent(
    f: Any,
    results: Any,
    path: str | os.PathLike[str],
    *,
    fps: int = 12,
    max_frames: int = 80,
    domain: Any = None,
    dpi: int = 80,
    resolution: int = 150,
) -> Path:
    """Write an animated GIF of the descent(s): paths growing step by step (1-D or 2-D).

    Frames sample the steps evenly (at most ``max_frames``); the last frame holds the end.
    The file is written atomically. Returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from gdlab.io.atomic import atomic_write_bytes

    p = Path(path)
    if p.suffix.lower() != ".gif":
        raise ValueError(f"animate_descent writes a GIF: the file name must end in '.gif'. "
                         f"Got {p.name!r}.")
    if not p.parent.exists():
        raise FileNotFoundError(f"Cannot write the animation: folder {str(p.parent)!r} does not "
                                "exist. Create it first.")
    obj = as_objective(f)
    res = _results(results)
    d = _check_dims(obj, res, (1, 2), "animate_descent")
    if d == 2:
        fig = plot_trajectories(obj, res, domain=domain, resolution=resolution)
        ax = fig.axes[0]
        # the growing paths are drawn over the full ones, which are hidden
        for line in ax.lines:
            if line.get_zorder() >= 5:
                line.set_visible(False)
    else:
        fig = plot_descent_1d(obj, res, domain=domain)
        ax = fig.axes[0]
        for line in ax.lines[1:]:
            line.set_visible(False)
    w, h = fig.get_size_inches()
    fig.set_size_inches(0.85 * float(w), 0.85 * float(h))
    n_max = max(r.n_steps for r in res)
    frames = np.unique(np.linspace(0, n_max, min(max_frames, n_max + 1)).astype(int))
    frames = np.concatenate([frames, np.full(max(fps // 2, 1), n_max)])  # pause at the end
    colors = PATH_COLORS if d == 2 else ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd")
    lines, heads = [], []
    for i in range(len(res)):
        c = colors[i % len(colors)]
        (ln,) = ax.plot([], [], "-", color=c, lw=1.8, zorder=8, animated=True,
                        path_effects=_STROKE if d == 2 else None)
        (hd,) = ax.plot([], [], "o", color=c, markersize=8, markeredgecolor="black", zorder=9,
                        animated=True)
        lines.append(ln)
        heads.append(hd)
    step_text = ax.text(0.98, 0.02, "", transform=ax.transAxes, ha="right", va="bottom",
                        fontsize=10, bbox={"facecolor": "white", "alpha": 0.8}, animated=True)
    # Blitting: the map, legend and layout are drawn once; each frame restores that background
    # and draws only the growing paths (a full redraw per frame is ~50x slower).
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    fig.set_layout_engine("none")  # keep the positions the constrained layout chose
    background = canvas.copy_from_bbox(fig.bbox)
    images: list[Any] = []
    palette_image = None
    for k in frames:
        canvas.restore_region(background)
        for r, ln, hd in zip(res, lines, heads, strict=True):
            assert r.points is not None and r.values is not None
            m = min(int(k), r.n_steps)
            if d == 2:
                xs, ys = r.points[: m + 1, 0], r.points[: m + 1, 1]
            else:
                xs, ys = r.points[: m + 1, 0], r.values[: m + 1]
            ln.set_data(xs, ys)
            hd.set_data(xs[-1:], ys[-1:])
            ax.draw_artist(ln)
            ax.draw_artist(hd)
        step_text.set_text(f"step {int(k)}")
        ax.draw_artist(step_text)
        frame = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(),
                                 "raw", "RGBA", 0, 1).convert("RGB")
        # one palette for every frame (from the first) avoids colour flicker
        if palette_image is None:
            palette_image = frame.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
            images.append(palette_image)
        else:
            images.append(frame.quantize(palette=palette_image, dither=Image.Dither.NONE))
    buf = _io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(int(1000 / fps), 20), loop=0, optimize=False)
    data = buf.getvalue()
    atomic_write_bytes(p, data)
    return p


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 100) -> bytes:
    """The figure rendered to bytes (for tests and web use)."""
    buf = _io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()
