"""Parity with PyTorch: gdlab's MLP and torch's nn.Sequential of nn.Linear + activations, from
the same weights (copied explicitly: nn.Linear's weight is W^T, shape (out, in)) on the same
batch, give the same loss, gradient and training steps in float64, for every optimizer."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.core.loop import ModelProblem, TrainConfig, TrainState, run
from gdlab.core.models import MLP
from gdlab.core.optim import SGD, Adagrad, Adam, AdamW, Momentum, RMSprop

torch = pytest.importorskip("torch")
nn = torch.nn

pytestmark = pytest.mark.torch

TORCH_ACTIVATIONS = {
    "identity": nn.Identity, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
}

#: name -> (gdlab optimizer, torch optimizer factory, lr)
OPTIMIZERS = {
    "sgd": (lambda: SGD(), lambda p, lr: torch.optim.SGD(p, lr=lr), 0.1),
    "momentum": (lambda: Momentum(beta=0.9, form="torch"),
                 lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9), 0.1),
    "adam": (lambda: Adam(), lambda p, lr: torch.optim.Adam(p, lr=lr), 0.01),
    "adamw": (lambda: AdamW(), lambda p, lr: torch.optim.AdamW(p, lr=lr), 0.01),
    "adagrad": (lambda: Adagrad(), lambda p, lr: torch.optim.Adagrad(p, lr=lr), 0.05),
    "rmsprop": (lambda: RMSprop(), lambda p, lr: torch.optim.RMSprop(p, lr=lr), 0.01),
}


def _torch_net(model: MLP, theta: np.ndarray):  # type: ignore[no-untyped-def]
    """nn.Sequential with gdlab's weights copied in (W_l^T into nn.Linear's weight)."""
    layers = []
    for i, (W, b) in enumerate(model.unpack(theta)):
        lin = nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(lin)
        if i < model.n_layers - 1:
            layers.append(TORCH_ACTIVATIONS[model.activation[i]]())
    return nn.Sequential(*layers)


def _torch_theta(net) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The torch parameters in gdlab's layout: per layer W (in, out) row-major, then b."""
    parts = []
    for mod in net:
        if isinstance(mod, nn.Linear):
            parts += [mod.weight.detach().numpy().T.ravel(), mod.bias.detach().numpy()]
    return np.concatenate(parts)


def _torch_grad(net) -> np.ndarray:  # type: ignore[no-untyped-def]
    parts = []
    for mod in net:
        if isinstance(mod, nn.Linear):
            parts += [mod.weight.grad.numpy().T.ravel(), mod.bias.grad.numpy()]
    return np.concatenate(parts)


def _torch_loss(head: str, out, y: np.ndarray):  # type: ignore[no-untyped-def]
    """The torch loss equal to gdlab's mean reduction for each head."""
    if head == "cce":
        return nn.functional.cross_entropy(out, torch.from_numpy(y))
    if head == "bce":
        return nn.functional.binary_cross_entropy_with_logits(out[:, 0], torch.from_numpy(y))
    # gdlab's MSE sums the squared errors over the K outputs and averages over the rows
    return ((out - torch.from_numpy(y)) ** 2).sum(dim=1).mean()


HEADS = {"cce": 4, "bce": 1, "mse": 2}


def _batch(head: str, m: int = 16, n: int = 5, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    K = HEADS[head]
    if head == "cce":
        return X, rng.integers(0, K, m)
    if head == "bce":
        return X, rng.integers(0, 2, m).astype(np.float64)
    return X, rng.normal(size=(m, K))


def _setup(head: str, activation, sizes=(7, 6)):  # type: ignore[no-untyped-def]
    X, y = _batch(head)
    model = MLP(X.shape[1], sizes, HEADS[head], activation, head)
    theta = model.init(0)
    theta[~model.weight_mask()] = np.random.default_rng(1).normal(
        scale=0.1, size=int((~model.weight_mask()).sum()))
    return model, theta, X, y


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("activation", sorted(TORCH_ACTIVATIONS))
def test_loss_and_gradient_equal_torch(activation: str, head: str) -> None:
    model, theta, X, y = _setup(head, activation, sizes=(7, 6, 5))
    net = _torch_net(model, theta)
    np.testing.assert_array_equal(_torch_theta(net), theta)
    out = net(torch.from_numpy(X))
    loss_t = _torch_loss(head, out, y)
    loss_t.backward()
    loss, grad = model.loss_and_grad(theta, X, y)
    assert loss == pytest.approx(loss_t.item(), rel=1e-13)
    np.testing.assert_allclose(grad, _torch_grad(net), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.logits(theta, X).reshape(out.shape),
                               out.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_steps_equal_torch(name: str, head: str) -> None:
    """Three full-batch steps of gdlab's loop and of a plain torch loop agree to 1e-10."""
    make_ours, make_torch, lr = OPTIMIZERS[name]
    model, theta, X, y = _setup(head, ["relu", "tanh"])
    net = _torch_net(model, theta)
    opt = make_torch(net.parameters(), lr)
    steps = 3
    state = TrainState.start(theta, make_ours(), random_state=0)
    config = TrainConfig(optimizer=make_ours(), lr=lr, batch_size=None, epochs=1, tol=None,
                         shuffle=False, warn_on_no_convergence=False)
    problem = ModelProblem.from_arrays(model, X, y, engine="numpy")
    for k in range(steps):
        opt.zero_grad()
        _torch_loss(head, net(torch.from_numpy(X)), y).backward()
        opt.step()
        config.epochs = k + 1
        run(problem, state, config)
        np.testing.assert_allclose(state.theta, _torch_theta(net), rtol=1e-10, atol=1e-12)
    assert state.step == steps
    assert np.abs(state.theta - theta).max() > 1e-3  # the steps moved the weights


def test_one_step_with_every_activation_and_adam() -> None:
    """An activation per layer: gelu, elu, leaky_relu, sigmoid in one network."""
    X, y = _batch("cce")
    model = MLP(5, (6, 5, 4, 3), 4, ["gelu", "elu", "leaky_relu", "sigmoid"], "cce")
    theta = model.init(3)
    net = _torch_net(model, theta)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    _torch_loss("cce", net(torch.from_numpy(X)), y).backward()
    opt.step()
    ours = Adam()
    _, grad = model.loss_and_grad(theta, X, y)
    updates, _ = ours.update(grad, ours.init(theta), theta, 0.01)
    np.testing.assert_allclose(theta + updates, _torch_theta(net), rtol=1e-10, atol=1e-12)
