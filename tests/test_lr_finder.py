"""Learning-rate range test: the suggestion sits below the stability limit 2/L; divergence stops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gdlab.core.lr_finder import LRRangeResult, lr_range_test
from gdlab.core.optim import Adam, Momentum
from gdlab.plots.training import plot_lr_range


def least_squares(seed, scales=(1.0, 2.0, 3.0, 0.5, 1.0), m=200, batch_size=None):
    """0.5 * mean((X w - y)^2), its largest curvature L, and a loss_and_grad closure."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, len(scales))) * np.array(scales)
    y = X @ rng.normal(size=len(scales)) + 0.1 * rng.normal(size=m)
    L = float(np.linalg.eigvalsh(X.T @ X / m).max())
    batches = np.random.default_rng(seed + 100)

    def loss_and_grad(w, step):
        if batch_size is None:
            Xb, yb = X, y
        else:
            idx = batches.choice(m, batch_size, replace=False)
            Xb, yb = X[idx], y[idx]
        r = Xb @ w - yb
        return 0.5 * float(np.mean(r**2)), Xb.T @ r / len(yb)

    return loss_and_grad, L


@pytest.mark.parametrize("batch_size", [None, 20])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scales", [(1.0, 2.0, 3.0, 0.5, 1.0), (10.0, 0.1, 1.0, 3.0, 0.3)])
def test_gd_suggestion_below_stability_limit(seed, scales, batch_size):
    loss_and_grad, L = least_squares(seed, scales, batch_size=batch_size)
    res = lr_range_test(loss_and_grad, np.zeros(len(scales)))
    assert 1e-3 * 2 / L < res.suggestion < 2 / L
    # GD diverges past 2/L: the sweep (up to lr 10 >> 2/L) ends early
    assert res.stopped_early
    assert res.lrs[-1] > 2 / L


def test_sweep_values():
    loss_and_grad, _ = least_squares(0)
    res = lr_range_test(loss_and_grad, np.zeros(5), lr_min=1e-4, lr_max=1e-2, num_steps=21)
    assert isinstance(res, LRRangeResult)
    # exponential sweep: lr_i = lr_min * (lr_max / lr_min) ** (i / (num_steps - 1))
    np.testing.assert_allclose(res.lrs, 1e-4 * 10 ** (np.arange(21) / 10), rtol=1e-13)
    assert not res.stopped_early and res.lrs.size == res.losses.size == 21
    # losses[i] is the loss before the step with lrs[i]; bias-corrected moving average
    a, expected = 0.0, []
    for i, loss in enumerate(res.losses):
        a = 0.98 * a + 0.02 * loss
        expected.append(a / (1 - 0.98 ** (i + 1)))
    np.testing.assert_allclose(res.smoothed_losses, expected, rtol=1e-14)
    assert res.smoothed_losses[0] == res.losses[0]
    w = np.zeros(5)
    first_loss, g = loss_and_grad(w, 0)
    second_loss, _ = loss_and_grad(w - 1e-4 * g, 1)
    assert res.losses[:2].tolist() == [first_loss, second_loss]


def test_divergence_stop_triggers_with_factor():
    loss_and_grad, L = least_squares(1)
    res = lr_range_test(loss_and_grad, np.zeros(5), smooth=0.0, diverge_factor=2.0)
    assert res.stopped_early
    # the last recorded loss is the one that crossed 2 x best; none before it did
    best = np.minimum.accumulate(res.smoothed_losses[:-1])
    assert res.smoothed_losses[-1] > 2 * best[-1]
    assert np.all(res.smoothed_losses[1:-1] <= 2 * best[:-1])
    assert res.lrs[-1] > 2 / L
    assert res.lrs.size < 200


def test_nonfinite_loss_stops():
    calls = []

    def loss_and_grad(w, step):
        calls.append(step)
        return (math.inf if step == 7 else 1.0 / (1 + step)), np.ones_like(w)

    res = lr_range_test(loss_and_grad, np.zeros(3), num_steps=50)
    assert res.stopped_early and res.losses.size == 8 and calls == list(range(8))
    assert not np.isfinite(res.smoothed_losses[-1])


def test_other_optimizers_and_params_untouched():
    loss_and_grad, L = least_squares(2)
    w0 = np.zeros(5)
    for opt in ["momentum", Momentum(0.9, form="torch"), Adam()]:
        res = lr_range_test(loss_and_grad, w0, opt, lr_min=1e-6, lr_max=1.0, num_steps=100)
        assert math.isfinite(res.suggestion) and 1e-6 <= res.suggestion <= 1.0
    assert np.array_equal(w0, np.zeros(5))


def test_flat_loss_gives_nan_suggestion():
    res = lr_range_test(lambda w, t: (1.0, np.zeros_like(w)), np.zeros(2), num_steps=20)
    assert math.isnan(res.suggestion) and not res.stopped_early


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        (dict(lr_min=0.0), ValueError, "The 'lr_min' parameter of lr_range_test must be a float"),
        (dict(lr_min=1.0, lr_max=0.1), ValueError, "needs lr_min < lr_max"),
        (dict(num_steps=1), ValueError, "The 'num_steps' parameter of lr_range_test"),
        (dict(smooth=1.0), ValueError, "The 'smooth' parameter of lr_range_test"),
        (dict(diverge_factor=1.0), ValueError, "The 'diverge_factor' parameter"),
        (dict(optimizer="adamax"), ValueError, "Unknown optimizer 'adamax'"),
    ],
)
def test_bad_arguments(kwargs, exc, message):
    loss_and_grad, _ = least_squares(0)
    with pytest.raises(exc) as info:
        lr_range_test(loss_and_grad, np.zeros(5), **kwargs)
    assert message in str(info.value)


def test_bad_callable_and_params():
    with pytest.raises(TypeError, match="must be a callable"):
        lr_range_test(3, np.zeros(2))
    with pytest.raises(ValueError, match="Input params contains NaN"):
        lr_range_test(lambda w, t: (0.0, w), np.array([np.nan, 1.0]))


def test_plot_marks_the_suggestion():
    loss_and_grad, _ = least_squares(0)
    res = lr_range_test(loss_and_grad, np.zeros(5))
    fig = plot_lr_range(res)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    lines = [a for a in ax.get_children() if isinstance(a, Line2D)]
    marked = [ln for ln in lines if ln.get_label().startswith("suggested lr")]
    assert len(marked) == 1
    assert np.allclose(marked[0].get_xdata(), res.suggestion)
    assert f"{res.suggestion:.3g}" in marked[0].get_label()
    dots = [ln for ln in lines if ln.get_marker() == "o"]
    assert len(dots) == 1 and np.isclose(dots[0].get_xdata()[0], res.suggestion)
    np.testing.assert_array_equal(lines[0].get_xdata(), res.lrs)
    assert "diverged" in ax.get_title()
    # an existing Axes is drawn into
    fig2 = Figure()
    ax2 = fig2.add_subplot()
    assert plot_lr_range(res, ax=ax2) is fig2 and len(ax2.lines) == 4
