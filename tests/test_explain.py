"""The lesson's worked example (MISSION.md, L1), reproduced exactly, and `gdlab explain`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gdlab.cli import main
from gdlab.core.models import LinearModel
from gdlab.teach.explain import explain_linear_step, explain_logistic_step, explain_softmax_step

ATOL = 1e-10


def test_way2_two_samples_mean() -> None:
    e = explain_linear_step(2, reduction="mean")
    np.testing.assert_allclose(e["y_hat"], [-2.229, -1.515], atol=ATOL)
    assert e["loss"] == pytest.approx(91.664233, abs=1e-9)
    np.testing.assert_allclose(e["grad"], [-110.0133, -18.744], atol=ATOL)
    np.testing.assert_allclose(e["theta_new"], [0.760133, 0.23644], atol=ATOL)


def test_way2_two_samples_sum_convention() -> None:
    e = explain_linear_step(2, reduction="sum")
    np.testing.assert_allclose(e["grad"], [-220.0266, -37.488], atol=ATOL)
    np.testing.assert_allclose(e["theta_new"], [1.860266, 0.42388], atol=ATOL)
    assert "sum" in e.convention
    # the lesson prints the mean loss; the sum convention shows it beside the sum
    assert e["loss"] == pytest.approx(183.328466, abs=1e-9)
    assert e["loss_mean"] == pytest.approx(91.664233, abs=1e-9)


def test_way3_four_samples_mean() -> None:
    e = explain_linear_step(3)
    np.testing.assert_allclose(e["y_hat"], [-2.229, -1.515, -1.141, -1.821], atol=ATOL)
    assert e["loss"] == pytest.approx(72.223747, abs=1e-9)
    np.testing.assert_allclose(e["k"], [-5.6645, -3.7075, -2.8705, -4.2605], atol=ATOL)
    np.testing.assert_allclose(e["grad"], [-88.48615, -16.503], atol=ATOL)
    np.testing.assert_allclose(e["theta_new"], [0.5448615, 0.21403], atol=ATOL)
    assert e["loss_new"] == pytest.approx(13.959812, abs=5e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_way1_columns_equals_way2_rows(reduction: str) -> None:
    e1, e2 = explain_linear_step(1, reduction=reduction), explain_linear_step(2, reduction=reduction)
    assert e1["X"].shape == (2, 2) and e1["y_hat"].shape == (1, 2) and e1["grad"].shape == (2, 1)
    np.testing.assert_allclose(e1["grad"][:, 0], e2["grad"], rtol=1e-15)
    np.testing.assert_allclose(e1["theta_new"][:, 0], e2["theta_new"], rtol=1e-15)


def test_explain_matches_model() -> None:
    X = np.array([[6.7], [4.6], [3.5], [5.5]])
    y = np.array([9.1, 5.9, 4.6, 6.7])
    loss, grad = LinearModel(n_features=1).loss_and_grad(np.array([-0.34, 0.049]), X, y)
    e = explain_linear_step(3)
    assert loss == pytest.approx(e["loss"], rel=1e-14)
    np.testing.assert_allclose(grad, e["grad"], rtol=1e-14)


def test_logistic_step_follows_l4() -> None:
    e = explain_logistic_step()
    X, Y, w = e["X"], e["Y"], e["w"]
    A = 1 / (1 + np.exp(-(w.T @ X)))
    np.testing.assert_allclose(e["A"], A, rtol=1e-14)
    np.testing.assert_allclose(e["dw"], X @ (A - Y).T / 4, rtol=1e-14)
    assert e["loss_new"] < e["loss"]


def test_softmax_step() -> None:
    e = explain_softmax_step()
    np.testing.assert_allclose(e["Y_hat"].sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(
        np.exp(e["Z_shifted"]) / np.exp(e["Z_shifted"]).sum(axis=1, keepdims=True), e["Y_hat"],
        rtol=1e-14)
    assert e["loss_new"] < e["loss"]


def test_cli_text_prints_exact_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--way", "3"]) == 0
    out = capsys.readouterr().out
    for figure in ["72.223747", "[-88.48615, -16.503]", "[0.5448615, 0.21403]", "13.95981197",
                   "(4, 2)", "mean reduction"]:
        assert figure in out
    assert main(["explain", "--way", "2", "--reduction", "sum"]) == 0
    out = capsys.readouterr().out
    assert "[1.860266, 0.42388]" in out and "[-220.0266, -37.488]" in out
    assert "loss_mean  scalar   = 91.664233" in out and "= 183.328466" in out


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    titles = [s["title"] for s in data["steps"]]
    assert len(titles) == 6 and "Logistic" in titles[3] and "Softmax" in titles[4]
    assert "lr='auto'" in titles[5]
    way3 = {q["name"]: q for q in data["steps"][2]["quantities"]}
    assert way3["grad"]["value"] == [-88.48615, -16.503]
    assert way3["theta_new"]["value"] == [0.5448615, 0.21403]
    assert way3["X"]["shape"] == [4, 2]


def test_cli_subprocess_and_bad_option() -> None:
    ok = subprocess.run([sys.executable, "-m", "gdlab.cli", "explain", "--way", "1"],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "theta^T X" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "gdlab.cli", "explain", "--way", "7"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr and "'7' is not one of" in bad.stderr


def test_auto_lr_is_one_over_the_hessian_eigenvalue() -> None:
    from gdlab.teach.explain import explain_auto_lr

    exp = explain_auto_lr()
    assert exp["L"] == pytest.approx(56.17660, abs=1e-4)
    assert exp["lr_auto"] == pytest.approx(1 / exp["L"])
    # the estimators' auto rate on the same four rows, without standardizing
    import gdlab

    X, y = np.array([[6.7], [4.6], [3.5], [5.5]]), np.array([9.1, 5.9, 4.6, 6.7])
    est = gdlab.LinearRegression(optimizer="gd", alpha=0.0, epochs=1, tol=None).fit(X, y)
    assert est.lr_ == pytest.approx(exp["lr_auto"], rel=1e-12)
