"""The multilayer perceptron: dense layers, an activation per hidden layer, a head matched to
the loss, all parameters in one flat vector.

Forward pass over a batch X of shape (m, n_0), layers l = 1..L (L - 1 hidden layers):

    A_0 = X
    Z_l = A_{l-1} W_l + b_l                 W_l (n_{l-1}, n_l), b_l (n_l,), Z_l (m, n_l)
    A_l = f_l(Z_l) * D_l / (1 - p_l)        hidden layers; D_l the dropout mask (training only)
    logits = Z_L                            the head: identity, sigmoid or softmax by the loss

Backward pass, from the loss's dL/dZ_L (which is (y_hat - y) / m for the canonical heads,
see :mod:`gdlab.core.losses`):

    dL/dW_l = A_{l-1}^T dZ_l        dL/db_l = sum over rows of dZ_l
    dZ_{l-1} = (dZ_l W_l^T) * D_{l-1} / (1 - p_{l-1}) * f'_{l-1}(Z_{l-1})

Both run on whole batches: a Python loop over the layers, none over samples or neurons (the
per-sample, per-neuron twin is :func:`gdlab.teach.backprop.mlp_loss_grad_loop`).

Parameter layout
----------------
theta is one flat vector: for each layer in order, W_l row-major (n_{l-1} * n_l entries: row
i holds the weights from input i to every unit of the layer), then b_l (n_l entries). So
``theta = [W_1.ravel(), b_1, W_2.ravel(), b_2, ..., W_L.ravel(), b_L]`` and
n_params = sum_l (n_{l-1} + 1) n_l. PyTorch's ``nn.Linear`` stores W_l^T (shape (out, in)).

Heads
-----
The loss fixes the head, as in :mod:`gdlab.core.models.glm`: 'mse' (identity), 'bce'
(sigmoid), 'cce' (softmax), and the lesson's mismatched pairs 'softmax_mse' and 'softmax_bce'.

Initialization
--------------
W_l ~ U(-r, r), b_l = 0, with r chosen by the activation that follows the layer
(``weight_init='auto'``): He (r = sqrt(6 / n_{l-1})) before relu, leaky_relu, elu and gelu;
Glorot (r = sqrt(6 / (n_{l-1} + n_l))) before tanh, sigmoid, identity and for the output
layer.
``weight_init='he'`` or ``'glorot'`` takes that bound for every hidden layer.

Dropout
-------
``dropout`` (one rate, or one per hidden layer) zeroes each hidden unit's output with
probability p in :meth:`MLP.loss_and_grad` and scales the kept ones by 1 / (1 - p) (inverted
dropout), so inference (:meth:`MLP.logits`, :meth:`MLP.forward`, :meth:`MLP.loss_value`) uses
the network as is. The training loop calls ``loss_and_grad(theta, X, y)`` with no step
counter, so the masks come from a counter-based generator (Philox) whose key is a BLAKE2b
digest of ``seed``, the parameters theta, the batch's shape and its first and last rows. The
parameters change at every step, so every step draws new masks; a rerun with the same data
and seed, and a run resumed from a checkpoint (which holds theta), draw the same ones. Pass
``dropout_key`` (an int) to fix the masks yourself: a gradient check must, since the
perturbed thetas of finite differences would otherwise draw other masks.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, softmax

from gdlab.core._validation import as_float_array, check_choice, check_consistent_length
from gdlab.core.activations import (
    ACTIVATIONS,
    backward_inplace,
    canonical_name,
    forward_inplace,
)
from gdlab.core.losses import get_loss, sample_factors
from gdlab.core.models.base import register_model
from gdlab.core.models.glm import LINKS

Array = NDArray[Any]

__all__ = ["MLP", "l2_weights"]

#: activations whose layer is initialized with He's bound under weight_init='auto' (the rest
#: use Glorot's)
HE_INIT = frozenset({"relu", "leaky_relu", "elu", "gelu"})
INITS = ("auto", "he", "glorot")


def l2_weights(theta: Array, scale: Array, alpha: float) -> tuple[Any, Array]:
    """The L2 term ``alpha / 2 sum_p scale_p theta_p^2`` and its gradient ``alpha scale theta``
    (scale: 1 at the weights, 0 at the biases; all of shape (n_params,)). Arithmetic only, so
    the compiled engine calls it too (:mod:`gdlab.engines.mlp_epoch`)."""
    grad = theta * scale
    return 0.5 * alpha * np.dot(grad, theta), grad * alpha


def _per_layer(value: Any, n: int, name: str, owner: str) -> tuple[Any, ...]:
    """One value for every hidden layer, or a sequence with one per hidden layer."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"The {name!r} parameter of {owner} must be one value or a list with one value "
                f"per hidden layer ({n}). Got {len(value)} values ({list(value)!r}) instead."
            )
        return tuple(value)
    return (value,) * n


def _check_sizes(sizes: Any, owner: str) -> tuple[int, ...]:
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        sizes = (sizes,)
    ok = isinstance(sizes, (list, tuple)) and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in sizes)
    if not ok:
        raise ValueError(
            f"The 'hidden_layer_sizes' parameter of {owner} must be a positive int or a list of "
            f"positive ints (units per hidden layer), e.g. (64, 32). Got {sizes!r} instead."
        )
    return tuple(int(s) for s in sizes)


@register_model
@dataclass(frozen=True)
class MLP:
    """A multilayer perceptron on a flat parameter vector (see the module docstring).

    Parameters
    ----------
    n_features : int
        Inputs n_0.
    hidden_layer_sizes : int or sequence of int, default (100,)
        Units per hidden layer; () is a generalized linear model.
    n_outputs : int, default 1
        Logits K (1 for regression on one target and for BCE, the classes for softmax).
    activation : str or sequence of str, default 'relu'
        One of identity, relu, leaky_relu, elu, tanh, sigmoid, gelu (``logistic`` and
        ``linear`` accepted), for every hidden layer or one per hidden layer.
    loss : {'mse', 'bce', 'cce', 'softmax_mse', 'softmax_bce'}, default 'mse'
        The loss, which fixes the head (identity, sigmoid or softmax).
    dropout : float or sequence of float in [0, 1), default 0.0
        Dropout rate of every hidden layer's output, or one per hidden layer.
    seed : int, default 0
        Mixed into the key of the dropout masks.
    weight_init : {'auto', 'he', 'glorot'}, default 'auto'
        The bound of the hidden layers' initial weights: 'auto' takes He's before relu,
        leaky_relu, elu and gelu and Glorot's otherwise; 'he' or 'glorot' for every hidden
        layer (the output layer always takes Glorot's).
    """

    name: ClassVar[str] = "mlp"

    n_features: int
    hidden_layer_sizes: Any = (100,)
    n_outputs: int = 1
    activation: Any = "relu"
    loss: str = "mse"
    dropout: Any = 0.0
    seed: int = 0
    weight_init: str = "auto"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for field_name in ("n_features", "n_outputs", "seed"):
            v = getattr(self, field_name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (
                    0 if field_name == "seed" else 1):
                low = 0 if field_name == "seed" else 1
                raise ValueError(f"The {field_name!r} parameter of {owner} must be an int in "
                                 f"the range [{low}, inf). Got {v!r} instead.")
        sizes = _check_sizes(self.hidden_layer_sizes, owner)
        acts = tuple(canonical_name(a, owner=owner)
                     for a in _per_layer(self.activation, len(sizes), "activation", owner))
        rates = _per_layer(self.dropout, len(sizes), "dropout", owner)
        for p in rates:
            if (isinstance(p, bool) or not isinstance(p, (int, float, np.floating))
                    or not 0.0 <= float(p) < 1.0):
                raise ValueError(f"The 'dropout' parameter of {owner} must be a float in the "
                                 f"range [0.0, 1.0) (or one per hidden layer). Got {p!r} "
                                 "instead.")
        check_choice(self.loss, "loss", LINKS, owner=owner)
        check_choice(self.weight_init, "weight_init", INITS, owner=owner)
        if LINKS[self.loss] == "softmax" and self.n_outputs < 2:
            raise ValueError(
                f"The 'n_outputs' parameter of {owner} must be >= 2 for a softmax loss, got "
                f"{self.n_outputs}. Softmax needs at least two classes."
            )
        object.__setattr__(self, "hidden_layer_sizes", sizes)
        object.__setattr__(self, "activation", acts)
        object.__setattr__(self, "dropout", tuple(float(p) for p in rates))
        object.__setattr__(self, "n_features", int(self.n_features))
        object.__setattr__(self, "n_outputs", int(self.n_outputs))
        object.__setattr__(self, "seed", int(self.seed))

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON (the model protocol; see gdlab.core.models.base)."""
        return {"n_features": self.n_features,
                "hidden_layer_sizes": list(self.hidden_layer_sizes),
                "n_outputs": self.n_outputs, "activation": list(self.activation),
                "loss": self.loss, "dropout": list(self.dropout), "seed": self.seed,
                "weight_init": self.weight_init}

    # ---- parameters -------------------------------------------------------------------
    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(n_0, n_1, ..., n_L): inputs, hidden units, outputs."""
        return (self.n_features, *self.hidden_layer_sizes, self.n_outputs)

    @property
    def n_layers(self) -> int:
        """Number of weight layers L (hidden layers + 1)."""
        return len(self.hidden_layer_sizes) + 1

    @property
    def link(self) -> str:
        """The head: 'identity', 'sigmoid' or 'softmax'."""
        return LINKS[self.loss]

    def offsets(self) -> list[tuple[int, int, int]]:
        """For each layer, (start of W, start of b, end of b) in theta."""
        return list(self._offsets)

    @cached_property
    def _offsets(self) -> tuple[tuple[int, int, int], ...]:
        out, pos = [], 0
        sizes = self.layer_sizes
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            w_end = pos + n_in * n_out
            out.append((pos, w_end, w_end + n_out))
            pos = w_end + n_out
        return tuple(out)

    @cached_property
    def _shapes(self) -> tuple[tuple[int, int], ...]:
        sizes = self.layer_sizes
        return tuple(zip(sizes[:-1], sizes[1:], strict=True))

    @property
    def n_params(self) -> int:
        """Length of theta: sum over layers of (n_in + 1) * n_out."""
        return self._offsets[-1][2]

    def unpack(self, theta: Array) -> list[tuple[Array, Array]]:
        """Views of theta as [(W_1, b_1), ..., (W_L, b_L)], W_l of shape (n_{l-1}, n_l)."""
        theta = np.asarray(theta)
        if theta.shape != (self.n_params,):
            raise ValueError(
                f"Input theta must have shape ({self.n_params},) for an MLP with layer sizes "
                f"{list(self.layer_sizes)}, got shape {theta.shape} instead."
            )
        return [(theta[s:w].reshape(shape), theta[w:e])
                for shape, (s, w, e) in zip(self._shapes, self._offsets, strict=True)]

    def pack(self, Ws: list[Any], bs: list[Any]) -> Array:
        """Flatten [W_1..W_L] (each (n_{l-1}, n_l)) and [b_1..b_L] into theta."""
        if len(Ws) != self.n_layers or len(bs) != self.n_layers:
            raise ValueError(f"pack needs {self.n_layers} weight matrices and biases, got "
                             f"{len(Ws)} and {len(bs)}.")
        sizes = self.layer_sizes
        dtype = np.result_type(*[np.asarray(W) for W in Ws], np.float32)
        parts = []
        for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            W = np.asarray(W, dtype=dtype)
            if W.shape != (sizes[i], sizes[i + 1]):
                raise ValueError(f"W_{i + 1} must have shape ({sizes[i]}, {sizes[i + 1]}), got "
                                 f"{W.shape}.")
            parts += [W.ravel(), np.broadcast_to(np.asarray(b, dtype=dtype), (sizes[i + 1],))]
        return np.concatenate(parts)

    def weight_mask(self) -> Array:
        """Boolean array of shape (n_params,): True at the weights, False at the biases."""
        mask = np.zeros(self.n_params, dtype=bool)
        for s, w, _ in self.offsets():
            mask[s:w] = True
        return mask

    def init(self, random_state: int | np.random.Generator | None = 0, *,
             dtype: Any = np.float64) -> Array:
        """Seeded initial theta: W_l ~ U(-r, r) with He's or Glorot's r (see the module
        docstring), b_l = 0."""
        rng = np.random.default_rng(random_state)
        sizes = self.layer_sizes
        Ws, bs = [], []
        for i in range(self.n_layers):
            n_in, n_out = sizes[i], sizes[i + 1]
            hidden = i < self.n_layers - 1
            if hidden and (self.weight_init == "he" or (
                    self.weight_init == "auto" and self.activation[i] in HE_INIT)):
                r = math.sqrt(6.0 / n_in)
            else:
                r = math.sqrt(6.0 / (n_in + n_out))
            Ws.append(rng.uniform(-r, r, size=(n_in, n_out)).astype(dtype))
            bs.append(np.zeros(n_out, dtype=dtype))
        return self.pack(Ws, bs).astype(dtype, copy=False)

    # ---- forward ----------------------------------------------------------------------
    def check_X(self, X: Any) -> Array:
        """Validate X: 2-D, finite, numeric, with n_features columns."""
        X = as_float_array(X, "X", ndim=2)
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} features, but the model is expecting "
                             f"{self.n_features} features as input.")
        return X

    def _hidden(self, theta: Array, X: Array) -> Array:
        """The last hidden layer's output (X itself with no hidden layer), inference mode."""
        layers = self.unpack(theta)
        A = X
        for (W, b), act in zip(layers[:-1], self.activation, strict=True):
            A = ACTIVATIONS[act].f(A @ W + b)
        return A

    def logits(self, theta: Array, X: Array) -> Array:
        """The head's input Z_L: shape (m,) with one output, (m, K) otherwise (no dropout)."""
        W, b = self.unpack(theta)[-1]
        z = self._hidden(theta, X) @ W + b
        return z[:, 0] if self.n_outputs == 1 else z

    def forward(self, theta: Array, X: Array) -> Array:
        """The prediction y_hat: the logits through the head (identity, sigmoid or softmax)."""
        z = self.logits(theta, X)
        if self.link == "identity":
            return z
        if self.link == "sigmoid":
            return expit(z)
        return softmax(z, axis=1)

    def layer_outputs(self, theta: Array, X: Array) -> list[tuple[Array, Array]]:
        """(Z_l, A_l) of every layer, inference mode; the last pair is (logits, y_hat), each
        of shape (m, n_l)."""
        A = X
        out = []
        for i, (W, b) in enumerate(self.unpack(theta)):
            Z = A @ W + b
            if i < self.n_layers - 1:
                A = ACTIVATIONS[self.activation[i]].f(Z)
            elif self.link == "identity":
                A = Z
            elif self.link == "sigmoid":
                A = expit(Z)
            else:
                A = softmax(Z, axis=1)
            out.append((Z, A))
        return out

    # ---- dropout ----------------------------------------------------------------------
    @property
    def uses_dropout(self) -> bool:
        return any(p > 0.0 for p in self.dropout)

    def dropout_key(self, theta: Array, X: Array) -> int:
        """The 128-bit key of a step's masks: BLAKE2b of seed, theta, X's shape, first and
        last rows (see the module docstring)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(int(self.seed).to_bytes(8, "little"))
        h.update(np.ascontiguousarray(theta).tobytes())
        h.update(repr(X.shape).encode())
        if X.shape[0]:
            h.update(np.ascontiguousarray(X[0]).tobytes())
            h.update(np.ascontiguousarray(X[-1]).tobytes())
        return int.from_bytes(h.digest(), "little")

    def dropout_masks(self, m: int, key: int, dtype: Any = np.float64) -> list[Array | None]:
        """Scaled masks D_l / (1 - p_l) of shape (m, n_l) per hidden layer (None at p = 0),
        drawn from Philox keyed by ``key``, layer after layer."""
        rng = np.random.Generator(np.random.Philox(key=key % (1 << 128)))
        masks: list[Array | None] = []
        for p, n in zip(self.dropout, self.hidden_layer_sizes, strict=True):
            if p == 0.0:
                masks.append(None)
                continue
            keep = rng.random((m, n)) >= p
            masks.append((keep.astype(dtype) * (1.0 / (1.0 - p))).astype(dtype, copy=False))
        return masks

    # ---- loss and gradient ------------------------------------------------------------
    def check_targets(self, y: Any, m: int) -> Array:
        """Targets for m rows as loss_and_grad takes them: (m,) or (m, K) floats, or integer
        labels (m,) for a softmax head."""
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"Input y must be numeric, got dtype {y.dtype}. Encode labels as "
                             "integers 0..K-1 first.")
        if y.ndim == 2 and y.shape[1] == 1 and self.n_outputs == 1:
            y = y[:, 0]
        check_consistent_length(("X", m), ("y", y.shape[0] if y.ndim else 0))
        y = as_float_array(y, "y", ndim=(1, 2)) if y.dtype.kind == "f" else y
        if self.link == "softmax" and y.ndim == 1:
            if y.size and (y.min() < 0 or y.max() >= self.n_outputs
                           or not np.all(np.mod(y, 1) == 0)):
                raise ValueError(
                    f"Input y must hold class indices 0..{self.n_outputs - 1}, got values from "
                    f"{y.min()} to {y.max()}. Encode labels with LabelEncoder first.")
            return y
        want = (m,) if self.n_outputs == 1 else (m, self.n_outputs)
        if y.shape != want:
            raise ValueError(f"Input y must have shape {want} for a model with "
                             f"{self.n_outputs} output(s), got {y.shape}.")
        return y.astype(np.float64, copy=False) if y.dtype.kind != "f" else y

    def loss_and_grad(self, theta: Array, X: Array, y: Any, *,
                      sample_weight: Array | None = None, reduction: str = "mean",
                      alpha: float = 0.0, dropout_key: int | None = None
                      ) -> tuple[float, Array]:
        """Training loss (dropout on) and its gradient, vectorized over the batch.

        Parameters
        ----------
        theta : array of shape (n_params,)
        X : array of shape (m, n_features)
        y : targets of shape (m,) or (m, K); integer labels (m,) for a softmax head
        sample_weight : array of shape (m,), optional
        reduction : {'mean', 'sum'}
        alpha : float
            L2 penalty (alpha / 2) sum_l ||W_l||^2 (biases are not penalized).
        dropout_key : int, optional
            Key of the dropout masks; by default derived from theta and the batch.

        Returns
        -------
        loss : float
        grad : array of shape (n_params,)
        """
        self.unpack(theta)
        X = self.check_X(X)
        return self.loss_and_grad_checked(theta, X, self.check_targets(y, X.shape[0]),
                                          sample_weight=sample_weight, reduction=reduction,
                                          alpha=alpha, dropout_key=dropout_key)

    def loss_and_grad_checked(self, theta: Array, X: Array, y: Array, *,
                              sample_weight: Array | None = None, reduction: str = "mean",
                              alpha: float = 0.0, dropout_key: int | None = None,
                              train: bool = True) -> tuple[float, Array]:
        """:meth:`loss_and_grad` for validated inputs (the training loop's hot path);
        ``train=False`` turns dropout off."""
        layers = self.unpack(theta)
        L = self.n_layers
        masks: list[Array | None] = [None] * (L - 1)
        if train and self.uses_dropout:
            key = self.dropout_key(theta, X) if dropout_key is None else dropout_key
            masks = self.dropout_masks(X.shape[0], key, X.dtype)
        # forward: keep each layer's input A_{l-1} and output f(Z_l) (Z_l itself only where
        # the derivative needs it: gelu)
        inputs, pre, post = [X], [], []
        A = X
        for i in range(L - 1):
            W, b = layers[i]
            Z = A @ W
            Z += b
            name = self.activation[i]
            pre.append(Z.copy() if name == "gelu" else None)
            H = forward_inplace(name, Z)
            post.append(H)
            A = H if masks[i] is None else H * masks[i]
            inputs.append(A)
        W, b = layers[-1]
        z = A @ W
        z += b
        loss, dZ = self._head(z, y, sample_weight, reduction)
        # backward: dL/dW_l = A_{l-1}^T dZ_l, dL/db_l = column sums, then down one layer
        grad = np.empty_like(theta)
        offsets = self._offsets
        for i in range(L - 1, -1, -1):
            s, w, e = offsets[i]
            W = layers[i][0]
            np.matmul(inputs[i].T, dZ, out=grad[s:w].reshape(W.shape))
            grad[w:e] = dZ.sum(axis=0)
            if i == 0:
                break
            dA = dZ @ W.T
            mask = masks[i - 1]
            if mask is not None:
                dA *= mask
            dZ = backward_inplace(self.activation[i - 1], dA, pre[i - 1], post[i - 1])
        if alpha:
            p_loss, p_grad = self.penalty(theta, alpha)
            loss += p_loss
            grad += p_grad
        return loss, grad

    def _head(self, z: Array, y: Array, sample_weight: Array | None, reduction: str
              ) -> tuple[float, Array]:
        """The loss and dL/dz of shape (m, K) from the logits z of shape (m, K).

        Softmax + CCE on integer labels is computed here in one pass (the same formula as
        :func:`gdlab.core.losses.cce`, without the one-hot matrix); the rest is
        :mod:`gdlab.core.losses`."""
        if self.loss == "cce" and y.ndim == 1:
            m = z.shape[0]
            c = sample_factors(m, sample_weight, reduction, z.dtype)
            rows = np.arange(m)
            labels = y if y.dtype.kind in "iu" else y.astype(np.intp)
            z_max = z.max(axis=1, keepdims=True)
            P = z - z_max  # subtract the row max: exp overflows above ~709
            picked = P[rows, labels]
            np.exp(P, out=P)
            total = P.sum(axis=1, keepdims=True)
            per_sample = np.log(total[:, 0]) - picked
            P /= total
            P[rows, labels] -= 1.0
            if np.ndim(c) == 0:
                P *= z.dtype.type(c)
                return float(per_sample.sum() * c), P
            P *= np.asarray(c, dtype=z.dtype)[:, None]
            return float(np.dot(per_sample, c)), P
        z_head = z[:, 0] if self.n_outputs == 1 else z
        loss, dz = get_loss(self.loss)(z_head, y, reduction=reduction,
                                       sample_weight=sample_weight)
        return loss, dz.reshape(z.shape)

    def penalty(self, theta: Array, alpha: float) -> tuple[float, Array]:
        """``alpha / 2 sum_l ||W_l||^2`` and its gradient (alpha W_l at the weights, 0 at the
        biases)."""
        if not alpha:
            return 0.0, np.zeros_like(theta)
        loss, grad = l2_weights(theta, self._weight_scale(theta.dtype), alpha)
        return float(loss), grad

    def _weight_scale(self, dtype: Any) -> Array:
        """1 at the weights, 0 at the biases, in ``dtype`` (cached per dtype)."""
        cache = self.__dict__.setdefault("_mask_cache", {})
        key = np.dtype(dtype).str
        if key not in cache:
            cache[key] = self.weight_mask().astype(dtype)
        return cache[key]

    def loss_value(self, theta: Array, X: Array, y: Any, **kwargs: Any) -> float:
        """The loss at theta in inference mode (no dropout): what validation reports."""
        X = self.check_X(X)
        y = self.check_targets(y, X.shape[0])
        return self.loss_and_grad_checked(theta, X, y, train=False, **kwargs)[0]
