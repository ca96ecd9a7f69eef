"""Backpropagation as plain Python loops: one sample, one neuron, one weight at a time.

The loop twin of :meth:`gdlab.core.models.MLP.loss_and_grad`. For each sample it runs the
forward pass neuron by neuron (z_j = sum_i a_i W_ij + b_j, a_j = f(z_j)), takes the loss and
dL/dz of the head, and walks back layer by layer:

    dL/dW_ij += a_i * delta_j        dL/db_j += delta_j
    delta_i(previous layer) = f'(z_i) * sum_j W_ij delta_j

Nothing in the loops is NumPy: activations, losses and their derivatives are written again
with :mod:`math`, so the tests compare two independent computations. It is slow by design
(micrograd's point): use it on a handful of samples and neurons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["ACTIVATION_FUNCTIONS", "mlp_loss_grad_loop"]

_SLOPE = 0.01  # leaky_relu, as torch.nn.LeakyReLU


def _sigmoid(z: float) -> float:
    # branch on the sign so exp never overflows
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log1p_exp(z: float) -> float:
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


def _gelu(z: float) -> float:
    return 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0)))


def _dgelu(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0))) + z * math.exp(-0.5 * z * z) / math.sqrt(
        2.0 * math.pi)


#: name -> (f(z), f'(z)) on Python floats
ACTIVATION_FUNCTIONS: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "identity": (lambda z: z, lambda z: 1.0),
    "relu": (lambda z: z if z > 0 else 0.0, lambda z: 1.0 if z > 0 else 0.0),
    "leaky_relu": (lambda z: z if z > 0 else _SLOPE * z, lambda z: 1.0 if z > 0 else _SLOPE),
    "elu": (lambda z: z if z > 0 else math.expm1(z), lambda z: 1.0 if z > 0 else math.exp(z)),
    "tanh": (math.tanh, lambda z: 1.0 - math.tanh(z) ** 2),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "gelu": (_gelu, _dgelu),
}


def _softmax(z: list[float]) -> list[float]:
    z_max = max(z)  # subtract the max: exp overflows above ~709
    exps = [math.exp(zk - z_max) for zk in z]
    total = sum(exps)
    return [e / total for e in exps]


def _through_softmax(p: list[float], dL_dp: list[float]) -> list[float]:
    """dL/dz_j = sum_k dL/dp_k p_k (delta_kj - p_j): the softmax Jacobian, entry by entry."""
    K = len(p)
    out = []
    for j in range(K):
        s = 0.0
        for k in range(K):
            s += dL_dp[k] * p[k] * ((1.0 if k == j else 0.0) - p[j])
        out.append(s)
    return out


def _head(loss: str, z: list[float], t: list[float]) -> tuple[float, list[float]]:
    """One sample's loss and dL/dz for logits z and target row t (one-hot for softmax)."""
    K = len(z)
    if loss == "mse":
        return (sum((z[k] - t[k]) ** 2 for k in range(K)),
                [2.0 * (z[k] - t[k]) for k in range(K)])
    if loss == "bce":
        return (sum(_log1p_exp(z[k]) - t[k] * z[k] for k in range(K)),
                [_sigmoid(z[k]) - t[k] for k in range(K)])
    p = _softmax(z)
    if loss == "cce":
        z_max = max(z)
        lse = z_max + math.log(sum(math.exp(zk - z_max) for zk in z))
        return lse * sum(t) - sum(t[k] * z[k] for k in range(K)), [p[k] - t[k] for k in range(K)]
    if loss == "softmax_mse":
        return (sum((p[k] - t[k]) ** 2 for k in range(K)),
                _through_softmax(p, [2.0 * (p[k] - t[k]) for k in range(K)]))
    if loss == "softmax_bce":
        value = -sum(t[k] * math.log(p[k]) + (1.0 - t[k]) * math.log(1.0 - p[k])
                     for k in range(K))
        return value, _through_softmax(
            p, [-t[k] / p[k] + (1.0 - t[k]) / (1.0 - p[k]) for k in range(K)])
    raise ValueError(f"Unknown loss {loss!r}; expected one of 'mse', 'bce', 'cce', "
                     "'softmax_mse', 'softmax_bce'.")


def _target_rows(model: Any, y: Any, m: int) -> list[list[float]]:
    y = np.asarray(y)
    K = model.n_outputs
    if model.link == "softmax" and y.ndim == 1:
        return [[1.0 if k == int(y[i]) else 0.0 for k in range(K)] for i in range(m)]
    if y.ndim == 1:
        return [[float(y[i])] for i in range(m)]
    return [[float(v) for v in y[i]] for i in range(m)]


def mlp_loss_grad_loop(
    model: Any,
    theta: Sequence[float],
    X: Any,
    y: Any,
    *,
    sample_weight: Sequence[float] | None = None,
    reduction: str = "mean",
    alpha: float = 0.0,
    masks: Sequence[Any] | None = None,
) -> tuple[float, list[float]]:
    """Loss and gradient of an :class:`gdlab.core.models.MLP`, looping over samples and neurons.

    Parameters
    ----------
    model : MLP
        Its sizes, activations and loss are read; its NumPy code is not used.
    theta : sequence of float, length model.n_params (layout of gdlab.core.models.mlp)
    X : nested sequence of shape (m, n_features)
    y : targets (m,) or (m, K); integer labels (m,) for a softmax head
    sample_weight : sequence of float of length m, optional
    reduction : {'mean', 'sum'}
    alpha : float, the L2 penalty (alpha / 2) sum ||W_l||^2
    masks : optional, per hidden layer None or an array (m, n_l) of scaled dropout masks
        (:meth:`MLP.dropout_masks`); None runs without dropout.

    Returns
    -------
    loss : float
    grad : list of float, length model.n_params
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"The 'reduction' parameter must be 'mean' or 'sum'. Got "
                         f"{reduction!r} instead.")
    th = [float(t) for t in theta]
    rows = [[float(v) for v in row] for row in X]
    m = len(rows)
    sizes = list(model.layer_sizes)
    L = len(sizes) - 1
    # W[l][i][j] and b[l][j] as nested lists, read from the flat layout
    W: list[list[list[float]]] = []
    b: list[list[float]] = []
    pos = 0
    for layer in range(L):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        W.append([[th[pos + i * n_out + j] for j in range(n_out)] for i in range(n_in)])
        pos += n_in * n_out
        b.append(th[pos:pos + n_out])
        pos += n_out
    targets = _target_rows(model, y, m)
    weights = [1.0] * m if sample_weight is None else [float(s) for s in sample_weight]
    total = sum(weights)
    c = [w / total if reduction == "mean" else w for w in weights]
    gW = [[[0.0] * sizes[layer + 1] for _ in range(sizes[layer])] for layer in range(L)]
    gb = [[0.0] * sizes[layer + 1] for layer in range(L)]
    loss = 0.0
    for s in range(m):
        # forward, neuron by neuron; acts[l] is the input of layer l
        acts: list[list[float]] = [rows[s]]
        zs: list[list[float]] = []
        for layer in range(L):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            z = []
            for j in range(n_out):
                total_j = b[layer][j]
                for i in range(n_in):
                    total_j += acts[layer][i] * W[layer][i][j]
                z.append(total_j)
            zs.append(z)
            if layer < L - 1:
                f = ACTIVATION_FUNCTIONS[model.activation[layer]][0]
                mask = None if masks is None or masks[layer] is None else masks[layer][s]
                acts.append([f(z[j]) * (1.0 if mask is None else float(mask[j]))
                             for j in range(n_out)])
        value, dz = _head(model.loss, zs[-1], targets[s])
        loss += c[s] * value
        delta = [c[s] * d for d in dz]
        # backward, layer by layer, weight by weight
        for layer in range(L - 1, -1, -1):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            for i in range(n_in):
                for j in range(n_out):
                    gW[layer][i][j] += acts[layer][i] * delta[j]
            for j in range(n_out):
                gb[layer][j] += delta[j]
            if layer == 0:
                break
            df = ACTIVATION_FUNCTIONS[model.activation[layer - 1]][1]
            mask = None if masks is None or masks[layer - 1] is None else masks[layer - 1][s]
            prev = []
            for i in range(n_in):
                back = 0.0
                for j in range(n_out):
                    back += W[layer][i][j] * delta[j]
                if mask is not None:
                    back *= float(mask[i])
                prev.append(back * df(zs[layer - 1][i]))
            delta = prev
    grad: list[float] = []
    for layer in range(L):
        for i in range(sizes[layer]):
            for j in range(sizes[layer + 1]):
                if alpha:
                    loss += 0.5 * alpha * W[layer][i][j] ** 2
                    gW[layer][i][j] += alpha * W[layer][i][j]
                grad.append(gW[layer][i][j])
        grad.extend(gb[layer])
    return loss, grad
