"""Write the figures of docs/networks.md: `python scripts/network_figures.py [OUT_DIR]`.

A (16, 16) tanh network on two interleaved spirals (600 points, noise 0.15, seed 0), with
snapshots after 1, 5, 20, 50, 100, 200, 300 and 500 epochs.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

import gdlab
from gdlab.plots._save import save_figure
from gdlab.plots.curves import plot_history
from gdlab.plots.networks import (
    Snapshots,
    animate_boundary,
    plot_boundary_over_training,
    plot_hidden_units,
    plot_weight_histograms,
)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    X, y = gdlab.datasets.make_spirals(600, noise=0.15, random_state=0)
    snaps = Snapshots([1, 5, 20, 50, 100, 200, 300, 500])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = gdlab.MLPClassifier((16, 16), activation="tanh", lr=0.01, batch_size=64,
                                  epochs=500, tol=None, early_stopping=True,
                                  random_state=0, callbacks=[snaps]).fit(X, y)
    print(f"training accuracy {est.score(X, y):.4f}")
    save_figure(plot_boundary_over_training(est.model_, snaps.thetas, snaps.epochs_seen, X, y,
                                            resolution=100), out / "networks_boundary.png",
                dpi=70)
    animate_boundary(est.model_, snaps.thetas, snaps.epochs_seen, X, y,
                     out / "networks_boundary.gif", fps=2)
    save_figure(plot_hidden_units(est, X, y, resolution=60), out / "networks_hidden_units.png",
                dpi=70)
    save_figure(plot_weight_histograms(est), out / "networks_weights.png", dpi=80)
    save_figure(plot_history(est.history_, title="Spirals: loss per epoch"),
                out / "networks_loss.png", dpi=80)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
         / "docs" / "img")
