"""Network figures: the boundary during training (panels and GIF), hidden units over the
input plane from a real fit, weight histograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gdlab
from gdlab.plots.networks import (
    Snapshots,
    animate_boundary,
    hidden_unit_maps,
    plot_boundary_over_training,
    plot_decision_boundary,
    plot_hidden_units,
    plot_weight_histograms,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    X, y = gdlab.datasets.make_circles(200, noise=0.2, random_state=0)
    snaps = Snapshots([1, 5, 20, 40])
    est = gdlab.MLPClassifier((6, 4), activation=["tanh", "relu"], lr=0.02, batch_size=50,
                              epochs=40, tol=None, random_state=0, callbacks=[snaps]).fit(X, y)
    return est, snaps, X, y


def test_snapshots_hold_theta_after_each_listed_epoch(fitted) -> None:  # type: ignore
    est, snaps, X, y = fitted
    assert snaps.epochs_seen == [1, 5, 20, 40]
    np.testing.assert_array_equal(snaps.thetas[-1], est.state_.theta)
    assert not np.array_equal(snaps.thetas[0], snaps.thetas[-1])
    assert est.score(X, y) > 0.9


def test_boundary_figures(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    est, snaps, X, y = fitted
    fig = plot_decision_boundary(est, X, y)
    assert len(fig.axes) == 2  # the map and its colour bar
    fig = plot_boundary_over_training(est.model_, snaps.thetas, snaps.epochs_seen, X, y,
                                      ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["after 1 epoch", "after 5 epochs", "after 20 epochs", "after 40 epochs"]
    path = animate_boundary(est.model_, snaps.thetas, snaps.epochs_seen, X, y,
                            tmp_path / "b.gif", resolution=40)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    with pytest.raises(ValueError, match="must end in '.gif'"):
        animate_boundary(est.model_, snaps.thetas, snaps.epochs_seen, X, y, tmp_path / "b.png")
    with pytest.raises(ValueError, match=r"need two input features: X must have shape "
                                         r"\(n_samples, 2\), got \(200, 3\)"):
        plot_decision_boundary(est, np.column_stack([X, X[:, 0]]), y)


def test_hidden_unit_maps_are_the_layer_outputs(fitted) -> None:  # type: ignore
    est, _, X, y = fitted
    xx, yy, maps = hidden_unit_maps(est, X, resolution=30)
    assert [m.shape for m in maps] == [(30, 30, 6), (30, 30, 4)]
    point = np.array([[xx[3, 7], yy[3, 7]]])
    A1 = np.tanh(point @ est.coefs_[0] + est.intercepts_[0])
    A2 = np.maximum(A1 @ est.coefs_[1] + est.intercepts_[1], 0)
    np.testing.assert_allclose(maps[0][3, 7], A1[0], rtol=1e-12)
    np.testing.assert_allclose(maps[1][3, 7], A2[0], rtol=1e-12, atol=1e-15)
    fig = plot_hidden_units(est, X, y, resolution=30)
    shown = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert shown[:6] == [f"layer 1, unit {i}" for i in range(1, 7)]
    assert "layer 2, unit 4" in shown and shown[-1] == "output"


def test_weight_histograms(fitted) -> None:  # type: ignore[no-untyped-def]
    est, *_ = fitted
    fig = plot_weight_histograms(est)
    assert [ax.get_title() for ax in fig.axes] == ["layer 1", "layer 2", "layer 3 (output)"]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["W (2, 6)", "b (6,)"]
