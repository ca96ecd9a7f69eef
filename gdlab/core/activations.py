"""Activation functions of a network's hidden layers, each with its derivative.

Every activation is a pair of array functions with the same rhythm:

    a = f(z)             forward, element-wise, shape of z
    f'(z) = df(z, a)     derivative at z, given a = f(z) (several are cheaper from a)

Definitions (they match ``torch.nn`` with its defaults):

    identity    f(z) = z                               f' = 1
    relu        f(z) = max(z, 0)                        f' = 1 if z > 0 else 0
    leaky_relu  f(z) = z if z > 0 else 0.01 z           f' = 1 if z > 0 else 0.01
    elu         f(z) = z if z > 0 else e^z - 1          f' = 1 if z > 0 else e^z (= a + 1)
    tanh        f(z) = tanh z                           f' = 1 - a^2
    sigmoid     f(z) = 1 / (1 + e^-z)                   f' = a (1 - a)
    gelu        f(z) = z Phi(z)  (exact, erf form)      f' = Phi(z) + z phi(z)

Every activation but gelu also has ``da(a) = f'(z)`` from the output alone (relu, leaky_relu
and elu are positive exactly where z is). ``f`` and ``da`` use only arithmetic and NumPy
ufuncs (``np.where`` included; sigmoid calls ``expit``), so the same functions run on arrays
here and on scalars inside the compiled engine (:mod:`gdlab.engines.mlp_epoch`).

Phi and phi are the standard normal CDF and density. At z = 0 the derivative of relu and
leaky_relu is taken from the left (0 and 0.01), as PyTorch does. ``logistic`` (scikit-learn's
name) is accepted for sigmoid and ``linear`` for identity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf, expit

Array = NDArray[Any]

__all__ = ["ACTIVATIONS", "ALIASES", "LEAKY_SLOPE", "Activation", "backward_inplace",
           "canonical_name", "forward_inplace", "get_activation"]

#: the slope of leaky_relu for z < 0 (torch.nn.LeakyReLU's default negative_slope)
LEAKY_SLOPE = 0.01
_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Activation(NamedTuple):
    """An activation: ``f(z) -> a``, ``df(z, a) -> f'(z)`` and (None for gelu) ``da(a) ->
    f'(z)`` from the output alone, element-wise."""

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array, Array], Array]
    da: Callable[[Array], Array] | None = None


def _identity(z: Array) -> Array:
    return z


def _one(z: Array, a: Array) -> Array:
    return np.ones_like(z)


def _relu(z: Array) -> Array:
    return np.maximum(z, 0.0)


def _relu_da(a: Array) -> Array:
    return a > 0.0  # a boolean mask: 1 where z > 0, 0 elsewhere


def _drelu(z: Array, a: Array) -> Array:
    return (z > 0).astype(z.dtype)


def _leaky_relu(z: Array) -> Array:
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def _dleaky_relu(z: Array, a: Array) -> Array:
    return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)


def _leaky_relu_da(a: Array) -> Array:
    return np.where(a > 0.0, 1.0, LEAKY_SLOPE)


def _elu(z: Array) -> Array:
    # expm1 on min(z, 0): exp would overflow for large positive z in the unused branch
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))


def _delu(z: Array, a: Array) -> Array:
    return np.where(z > 0, 1.0, a + 1.0).astype(z.dtype)


def _elu_da(a: Array) -> Array:
    return np.where(a > 0.0, 1.0, a + 1.0)


def _tanh(z: Array) -> Array:
    return np.tanh(z)


def _dtanh(z: Array, a: Array) -> Array:
    return _tanh_da(a)


def _tanh_da(a: Array) -> Array:
    return 1.0 - a * a


def _sigmoid(z: Array) -> Array:
    return expit(z)


def _dsigmoid(z: Array, a: Array) -> Array:
    return _sigmoid_da(a)


def _sigmoid_da(a: Array) -> Array:
    return a * (1.0 - a)


def _gelu(z: Array) -> Array:
    return 0.5 * z * (1.0 + erf(z * _SQRT1_2))


def _dgelu(z: Array, a: Array) -> Array:
    cdf = 0.5 * (1.0 + erf(z * _SQRT1_2))
    return cdf + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z)


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", _identity, _one),
    "relu": Activation("relu", _relu, _drelu, _relu_da),
    "leaky_relu": Activation("leaky_relu", _leaky_relu, _dleaky_relu, _leaky_relu_da),
    "elu": Activation("elu", _elu, _delu, _elu_da),
    "tanh": Activation("tanh", _tanh, _dtanh, _tanh_da),
    "sigmoid": Activation("sigmoid", _sigmoid, _dsigmoid, _sigmoid_da),
    "gelu": Activation("gelu", _gelu, _dgelu),
}

#: other names for the same functions (scikit-learn's and TensorFlow Playground's)
ALIASES = {"logistic": "sigmoid", "linear": "identity"}


def forward_inplace(name: str, Z: Array) -> Array:
    """f(Z), overwriting Z where the derivative can be had from f(Z) alone (every activation
    but gelu, whose derivative needs z); returns the output array."""
    if name == "relu":
        return np.maximum(Z, 0, out=Z)
    if name == "leaky_relu":
        return np.maximum(Z, LEAKY_SLOPE * Z, out=Z)  # slope < 1: max(z, slope z) is leaky relu
    if name == "tanh":
        return np.tanh(Z, out=Z)
    if name == "sigmoid":
        return expit(Z, out=Z)
    if name == "elu":
        neg = Z < 0
        Z[neg] = np.expm1(Z[neg])
        return Z
    if name == "identity":
        return Z
    return ACTIVATIONS[name].f(Z)


def backward_inplace(name: str, dA: Array, Z: Array | None, A: Array) -> Array:
    """dA * f'(Z), overwriting dA; A = f(Z). Z is needed only for gelu (every other
    derivative comes from A: ``Activation.da``)."""
    if name == "identity":
        return dA
    act = ACTIVATIONS[name]
    if act.da is not None:
        return np.multiply(dA, act.da(A), out=dA)
    if Z is None:
        raise ValueError(f"The derivative of {name!r} needs the pre-activation Z.")
    return np.multiply(dA, act.df(Z, A), out=dA)


def canonical_name(name: Any, *, what: str = "activation", owner: str | None = None) -> str:
    """The activation's canonical name (aliases resolved); ValueError naming the valid ones."""
    if isinstance(name, str):
        key = ALIASES.get(name, name)
        if key in ACTIVATIONS:
            return key
    valid = ", ".join(repr(k) for k in [*ACTIVATIONS, *ALIASES])
    of = f" of {owner}" if owner else ""
    raise ValueError(f"The {what!r} parameter{of} must be one of {{{valid}}}. "
                     f"Got {name!r} instead.")


def get_activation(name: str) -> Activation:
    """Look an activation up by name (see the module docstring for the list)."""
    return ACTIVATIONS[canonical_name(name)]
