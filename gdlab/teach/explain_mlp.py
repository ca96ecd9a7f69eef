"""One forward and backward pass of a tiny network, every intermediate shown.

``explain_mlp_step()`` takes a 2-3-2 network (two inputs, three hidden units, two softmax
outputs with cross-entropy) or, with ``head="mse"``, a 2-3-1 network with one identity output,
on two samples with weights of one or two decimals, and lists, in the lessons' style, for
each layer z = x W + b and a = f(z), the output and the loss, then the delta of each layer,
dL/dW and dL/db with their shapes, and the update W - lr dL/dW. Samples are rows: for one
sample x (a row), z = x W + b is the lesson's z = W^T x + b.

The numbers are computed with the same pieces as :class:`gdlab.core.models.MLP` (its
activations and :mod:`gdlab.core.losses`), and the tests check the gradient against the
model's and the loop twin's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import softmax

from gdlab.core._validation import check_choice, check_scalar
from gdlab.core.activations import canonical_name, get_activation
from gdlab.core.losses import cce, mse
from gdlab.core.models import MLP
from gdlab.teach.explain import Explanation, Quantity

__all__ = ["WORKED_NETWORK", "explain_mlp_step", "worked_network"]

#: the worked example: two samples as rows, the weights of a 2-3-2 network
WORKED_NETWORK: dict[str, Any] = {
    "X": np.array([[1.0, 2.0], [0.5, -1.0]]),
    "labels": np.array([0, 1]),
    "y": np.array([1.0, -0.5]),
    "W1": np.array([[0.1, -0.2, 0.3], [0.4, 0.1, -0.5]]),
    "b1": np.array([0.0, 0.1, -0.1]),
    "W2": np.array([[0.2, -0.3], [0.5, 0.1], [-0.4, 0.2]]),
    "b2": np.array([0.05, -0.05]),
}


def worked_network(head: str = "cce", activation: str = "sigmoid"
                   ) -> tuple[MLP, np.ndarray, np.ndarray, np.ndarray]:
    """The worked example as (model, theta, X, y): 2-3-2 with cce, 2-3-1 with mse."""
    check_choice(head, "head", ("cce", "mse"))
    w = WORKED_NETWORK
    K = 2 if head == "cce" else 1
    model = MLP(2, (3,), K, activation, head)
    W2, b2 = (w["W2"], w["b2"]) if K == 2 else (w["W2"][:, :1], w["b2"][:1])
    theta = model.pack([w["W1"], W2], [w["b1"], b2])
    y = w["labels"] if head == "cce" else w["y"]
    return model, theta, w["X"].copy(), y.copy()


def explain_mlp_step(*, head: str = "cce", activation: str = "sigmoid",
                     lr: float = 0.5) -> Explanation:
    """One forward pass, backward pass and gradient step of the worked network.

    Parameters
    ----------
    head : {'cce', 'mse'}
        'cce': 2-3-2 with softmax outputs and categorical cross-entropy on labels [0, 1];
        'mse': 2-3-1 with an identity output and mean squared error on y = [1.0, -0.5].
    activation : str
        The hidden layer's activation (any of :mod:`gdlab.core.activations`).
    lr : float
        Learning rate of the step.
    """
    check_choice(head, "head", ("cce", "mse"))
    act_name = canonical_name(activation)
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    model, theta, X, y = worked_network(head, act_name)
    (W1, b1), (W2, b2) = model.unpack(theta)
    act = get_activation(act_name)
    m = X.shape[0]
    # forward
    Z1 = X @ W1 + b1
    A1 = act.f(Z1)
    Z2 = A1 @ W2 + b2
    if head == "cce":
        Y = np.eye(2)[y]
        Y_hat = softmax(Z2, axis=1)
        loss, dZ2 = cce(Z2, y)
        out_q = [Quantity("Y", "one-hot labels", Y),
                 Quantity("Y_hat", "softmax(Z2)", Y_hat),
                 Quantity("loss", "mean(logsumexp(Z2) - sum(Y Z2))  (CCE)", loss),
                 Quantity("dZ2", "(Y_hat - Y) / m  = dL/dZ2, the output layer's delta", dZ2)]
    else:
        Y = y[:, None]
        Y_hat = Z2
        loss, dz = mse(Z2[:, 0], y)
        dZ2 = dz[:, None]
        out_q = [Quantity("y", "targets, as a column", Y),
                 Quantity("y_hat", "Z2 (identity output)", Y_hat),
                 Quantity("loss", "mean((y_hat - y)^2)  (MSE)", loss),
                 Quantity("dZ2", "2 (y_hat - y) / m  = dL/dZ2, the output layer's delta", dZ2)]
    # backward
    dW2 = A1.T @ dZ2
    db2 = dZ2.sum(axis=0)
    dA1 = dZ2 @ W2.T
    fprime = act.df(Z1, A1)
    dZ1 = dA1 * fprime
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(axis=0)
    W1n, b1n, W2n, b2n = W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2
    theta_new = model.pack([W1n, W2n], [b1n, b2n])
    loss_new = model.loss_value(theta_new, X, y)
    f = act_name
    qs = [
        Quantity("X", "inputs, one row per sample, (m, n_0)", X),
        Quantity("W1", "hidden weights, (n_0, n_1)", W1),
        Quantity("b1", "hidden biases, (n_1,)", b1),
        Quantity("Z1", "X W1 + b1", Z1),
        Quantity("A1", f"{f}(Z1)", A1),
        Quantity("W2", "output weights, (n_1, n_2)", W2),
        Quantity("b2", "output biases, (n_2,)", b2),
        Quantity("Z2", "A1 W2 + b2  (the logits)", Z2),
        *out_q,
        Quantity("dW2", "A1^T dZ2", dW2),
        Quantity("db2", "sum(dZ2, rows)", db2),
        Quantity("dA1", "dZ2 W2^T", dA1),
        Quantity("f'(Z1)", f"{f}'(Z1)", fprime),
        Quantity("dZ1", "dA1 * f'(Z1), the hidden layer's delta", dZ1),
        Quantity("dW1", "X^T dZ1", dW1),
        Quantity("db1", "sum(dZ1, rows)", db1),
        Quantity("W1_new", "W1 - lr dW1", W1n),
        Quantity("b1_new", "b1 - lr db1", b1n),
        Quantity("W2_new", "W2 - lr dW2", W2n),
        Quantity("b2_new", "b2 - lr db2", b2n),
        Quantity("loss_new", "L after the step", loss_new),
    ]
    K = model.n_outputs
    return Explanation(
        f"A 2-3-{K} network, one forward and backward pass ({f} hidden layer, "
        f"{'softmax + CCE' if head == 'cce' else 'identity + MSE'} output), {m} samples",
        "mean reduction over the m rows (the 1/m is inside dZ2); samples are rows, so a "
        "layer computes Z = A W + b with W of shape (n_in, n_out)",
        qs,
        [f"lr = {lr}",
         "The delta of a layer is dL/dZ; each layer's gradient is (its input)^T (its delta).",
         "The backward pass reuses Z1 and A1 from the forward pass: f'(Z1) for "
         f"{f} needs no new exponentials" if f in ("sigmoid", "tanh") else
         "The backward pass reuses Z1 and A1 from the forward pass.",
         f"The loss falls from {loss:.6g} to {loss_new:.6g}."],
    )
