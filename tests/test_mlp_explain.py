"""`gdlab explain --model mlp`: one forward and backward pass of a 2-3-2 (or 2-3-1) network,
every number agreeing with the MLP model and the per-neuron loop twin."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdlab.cli import main
from gdlab.core.activations import ACTIVATIONS
from gdlab.teach.backprop import mlp_loss_grad_loop
from gdlab.teach.explain_mlp import explain_mlp_step, worked_network


@pytest.mark.parametrize("head", ["cce", "mse"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_quantity_agrees_with_the_model(activation: str, head: str) -> None:
    e = explain_mlp_step(head=head, activation=activation, lr=0.5)
    model, theta, X, y = worked_network(head, activation)
    loss, grad = model.loss_and_grad(theta, X, y)
    assert e["loss"] == pytest.approx(loss, rel=1e-14)
    shown = model.pack([e["dW1"], e["dW2"]], [e["db1"], e["db2"]])
    np.testing.assert_allclose(shown, grad, rtol=1e-13, atol=1e-16)
    loop_loss, loop_grad = mlp_loss_grad_loop(model, theta, X, y)
    np.testing.assert_allclose(shown, loop_grad, rtol=1e-10, atol=1e-15)
    assert loop_loss == pytest.approx(loss, rel=1e-12)
    new = model.pack([e["W1_new"], e["W2_new"]], [e["b1_new"], e["b2_new"]])
    np.testing.assert_allclose(new, theta - 0.5 * grad, rtol=1e-15)
    assert e["loss_new"] == pytest.approx(model.loss_value(new, X, y), rel=1e-14)
    assert e["Z2"].shape == (2, model.n_outputs)
    assert e["dZ1"].shape == e["Z1"].shape == (2, 3)


def test_worked_numbers_sigmoid_cce() -> None:
    """The 2-3-2 sigmoid example, figures computed by hand from X, W1, b1, W2, b2."""
    e = explain_mlp_step()
    np.testing.assert_allclose(e["Z1"], [[0.9, 0.1, -0.8], [-0.35, -0.1, 0.55]], rtol=1e-14)
    assert e["A1"][0, 0] == pytest.approx(1 / (1 + np.exp(-0.9)), rel=1e-15)
    assert e["loss"] == pytest.approx(0.6174141887, abs=1e-10)
    assert e["loss_new"] == pytest.approx(0.5917059995, abs=1e-10)
    np.testing.assert_allclose(e["dZ2"].sum(axis=1), 0.0, atol=1e-16)  # softmax - one-hot


def test_cli_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--model", "mlp"]) == 0
    out = capsys.readouterr().out
    for figure in ["A 2-3-2 network", "0.6174141887", "dZ1", "(2, 3)", "X^T dZ1",
                   "dA1 * f'(Z1)", "0.5917059995"]:
        assert figure in out
    assert main(["explain", "--model", "mlp", "--head", "mse", "--activation", "tanh",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (step,) = data["steps"]
    q = {x["name"]: x for x in step["quantities"]}
    assert "2-3-1" in step["title"] and "tanh" in step["title"]
    assert q["W2"]["shape"] == [3, 1] and q["dW1"]["shape"] == [2, 3]
    assert q["loss_new"]["value"] < q["loss"]["value"]


def test_cli_bad_activation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--model", "mlp", "--activation", "swish"]) != 0
    err = capsys.readouterr().err
    assert "'activation' parameter must be one of" in err and "Got 'swish'" in err
