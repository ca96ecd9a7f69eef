"""Pictures of descent: each returns a Figure, saves as PNG/SVG, and shows what it claims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from gdlab.functions.descent import basins, minimize, minimize_many
from gdlab.plots._save import save_figure
from gdlab.plots.surfaces import (
    animate_descent,
    plot_basins,
    plot_descent_1d,
    plot_surface_3d,
    plot_trajectories,
    plot_values,
)


@pytest.fixture(scope="module")
def runs() -> list:
    return [minimize("peaks", (-0.1, 1.2), optimizer=o, lr=lr, steps=1500)
            for o, lr in [("gd", 0.05), ("momentum", 0.01), ("adam", 0.05)]]


def _legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in
            ax.get_legend().get_texts()]


def test_trajectories_legend_and_paths(runs: list, tmp_path: Path) -> None:
    for kind in ("contour", "heatmap"):
        fig = plot_trajectories("peaks", runs, kind=kind)
        texts = _legend_texts(fig)
        assert texts == [r.legend for r in runs]
        assert texts[0].startswith("gd lr=0.05: converged (")
        ax = fig.axes[0]
        # each path line holds exactly the trajectory's points
        paths = [ln for ln in ax.lines if ln.get_label() in texts]
        for ln, r in zip(paths, runs, strict=True):
            np.testing.assert_array_equal(ln.get_xdata(), r.points[:, 0])
            np.testing.assert_array_equal(ln.get_ydata(), r.points[:, 1])
        assert ax.get_xlim() == (-3.0, 3.0)
    png = save_figure(fig, tmp_path / "t.png")
    svg = save_figure(fig, tmp_path / "t.svg")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in svg.read_bytes()[:500]


def test_trajectories_of_expression_use_path_box() -> None:
    r = minimize("(x-1)^2 + 5*(y+2)^2", [4.0, 1.0], lr=0.05, steps=300)
    fig = plot_trajectories("(x-1)^2 + 5*(y+2)^2", r)
    lo, hi = fig.axes[0].get_xlim()
    assert lo < 1.0 and hi > 4.0
    m = minimize_many("peaks", np.array([[0.5, -1.0], [-1.0, 0.5], [1.0, 1.0]]), lr=0.05,
                      record=2, steps=500)
    assert len(_legend_texts(plot_trajectories("peaks", m))) == 2


def test_surface_3d_and_values(runs: list) -> None:
    fig = plot_surface_3d("peaks", runs[:2])
    ax = fig.axes[0]
    assert ax.name == "3d" and _legend_texts(fig) == [r.legend for r in runs[:2]]
    fig = plot_values(runs)
    ax_v, ax_g = fig.axes[:2]
    assert ax_v.get_yscale() == "linear"  # peaks values are negative
    assert ax_g.get_yscale() == "log"
    np.testing.assert_array_equal(ax_v.lines[0].get_ydata(), runs[0].values)
    pos = minimize("x^2 + y^2 + 1", [1.0, 1.0], lr=0.1, steps=50)
    assert plot_values(pos).axes[0].get_yscale() == "log"


def test_descent_1d_points_on_curve() -> None:
    r = minimize("quartic_1d", 2.0, lr=0.02, steps=100)
    fig = plot_descent_1d("quartic_1d", r)
    ax = fig.axes[0]
    (step_line,) = [ln for ln in ax.lines if ln.get_label() == r.legend]
    np.testing.assert_array_equal(step_line.get_xdata(), r.points[:, 0])
    np.testing.assert_array_equal(step_line.get_ydata(), r.values)
    lo, hi = ax.get_ylim()
    assert lo < -1.07 and hi < 30  # scaled to the curve on the box
    with pytest.raises(ValueError, match="1 variable"):
        plot_descent_1d("peaks", minimize("peaks", (0.0, 0.0), steps=3))


def test_basins_picture_matches_labels(tmp_path: Path) -> None:
    b = basins("peaks", grid=25, steps=2000)
    fig = plot_basins(b)
    texts = _legend_texts(fig)
    share0 = 100 * np.mean(b.labels == 0)
    assert texts[0].startswith(f"minimum 1 (0.228, -1.626): {share0:.1f}%")
    assert "2/lambda_max=0.0663" in texts[0]
    assert {"minimum", "maximum", "saddle"} <= set(texts)
    (img,) = fig.axes[0].get_images()
    codes = np.asarray(img.get_array())
    # same partition of the grid as the labels (image rows follow y)
    lab = b.labels.reshape(25, 25).T
    for v in np.unique(lab):
        assert len(np.unique(codes[lab == v])) == 1
    save_figure(fig, tmp_path / "b.png")
    b1 = basins("local_minima_1d", grid=41, lr=0.01, steps=2000)
    assert len(_legend_texts(plot_basins(b1))) >= 4


def test_animation_gif(runs: list, tmp_path: Path) -> None:
    from PIL import Image

    out = animate_descent("peaks", runs[:2], tmp_path / "a.gif", max_frames=20)
    with Image.open(out) as im:
        assert im.format == "GIF" and im.n_frames >= 10
    r = minimize("quartic_1d", 2.0, lr=0.02, steps=30)
    out1 = animate_descent("quartic_1d", r, tmp_path / "b.gif")
    assert out1.stat().st_size > 1000
    with pytest.raises(ValueError, match=r"\.gif"):
        animate_descent("peaks", runs, tmp_path / "a.png")


def test_results_without_trajectory_are_refused() -> None:
    r = minimize("peaks", (0.0, 0.0), steps=5, record=False)
    with pytest.raises(ValueError, match="record=True"):
        plot_trajectories("peaks", r)
