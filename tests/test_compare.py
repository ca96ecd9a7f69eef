"""The lessons' comparisons: batch modes x optimizers (`gdlab compare`) and the softmax losses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris

from gdlab.cli import main
from gdlab.teach.compare import compare, compare_softmax_losses


def test_mse_on_softmax_reaches_accuracy_later_than_cce() -> None:
    X, y = load_digits(return_X_y=True)
    curves = {c.loss: c for c in compare_softmax_losses(X, y, epochs=40)}
    cce, mse = curves["cce"].epochs_to(0.9), curves["mse"].epochs_to(0.9)
    assert cce is not None and mse is not None
    assert mse >= 2 * cce, (cce, mse)
    # the reason: MSE's gradient starts small (p(1-p) factors), CCE's does not
    assert curves["mse"].grad_norm[0] < 0.5 * curves["cce"].grad_norm[0]


def test_compare_rows_cover_every_mode_and_optimizer() -> None:
    X, y = load_iris(return_X_y=True)
    rows = compare(X, y, "multiclass", optimizers=("gd", "adam"), epochs=15)
    assert [(r.batch, r.optimizer) for r in rows] == [
        ("full", "gd"), ("full", "adam"), ("mini", "gd"), ("mini", "adam"),
        ("stochastic", "gd"), ("stochastic", "adam")]
    assert all(r.epochs == 15 and len(r.loss_curve) == 15 for r in rows)
    # stochastic descent takes one step per row: many more steps, lower loss after 15 epochs
    full = next(r for r in rows if r.batch == "full" and r.optimizer == "gd")
    sgd = next(r for r in rows if r.batch == "stochastic" and r.optimizer == "gd")
    assert sgd.final_loss < full.final_loss
    assert all(r.score > 0.6 for r in rows)


def test_cli_compare_table_json_and_plot(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    plot = tmp_path / "curves.png"
    assert main(["compare", "--dataset", "iris", "--optimizers", "gd,momentum,adam",
                 "--epochs", "10", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "stochastic (1)" in out and "momentum" in out and "accuracy" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", "--dataset", "diabetes", "--optimizers", "gd", "--batches", "full",
                 "--epochs", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["task"] == "regression" and data["rows"][0]["metric"] == "R^2"
    assert len(data["rows"][0]["loss_curve"]) == 5
    assert np.isfinite(data["rows"][0]["final_loss"])
    # scikit-learn's closed form on the same split (test_size 0.25, seed 0, scaled on train)
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    sc = StandardScaler().fit(Xtr)
    want = LinearRegression().fit(sc.transform(Xtr), ytr).score(sc.transform(Xte), yte)
    assert data["baseline"]["model"] == "scikit-learn LinearRegression (closed form)"
    assert data["baseline"]["score"] == pytest.approx(want, rel=1e-12)
    assert main(["compare", "--dataset", "diabetes", "--optimizers", "gd", "--batches", "full",
                 "--epochs", "5"]) == 0
    assert (f"reference: scikit-learn LinearRegression (closed form) on the same split: R^2 "
            f"{want:.4f}") in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--optimizers", "adamm"], "'adamm' is not one of 'gd', "),
    (["--optimizers", "adamm"], "(did you mean 'adam'?)"),
    (["--batches", "huge"], "'huge' is not one of 'full', 'mini', 'stochastic'"),
    (["--lr", "-1"], "must be a positive number"),
])
def test_cli_compare_bad_input(args, message, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["compare", "--dataset", "iris", "--epochs", "2", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_lr_range_test_from_the_estimator_and_cli(tmp_path, capsys) -> None:  # type: ignore
    from sklearn.preprocessing import StandardScaler

    from gdlab.estimators.linear import SoftmaxRegression

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = SoftmaxRegression(optimizer="gd", batch_size=64, random_state=0)
    result = est.lr_range_test(X, y)
    assert not hasattr(est, "coef_")  # the estimator is left unfitted
    assert 1e-3 < result.suggestion < 5.0
    fitted = SoftmaxRegression(optimizer="gd", lr=result.suggestion, batch_size=64, epochs=20,
                               random_state=0).fit(X, y)
    assert fitted.score(X, y) > 0.95
    plot = tmp_path / "lr.svg"
    assert main(["lr-find", "--dataset", "iris", "--steps", "60", "--plot", str(plot)]) == 0
    assert "suggested learning rate" in capsys.readouterr().out
    assert plot.read_text().lstrip().startswith("<?xml")
    assert main(["lr-find", "--dataset", "iris", "--lr-min", "1", "--lr-max", "0.1"]) != 0
