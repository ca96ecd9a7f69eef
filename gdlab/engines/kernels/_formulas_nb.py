"""gdlab.core's element-wise formulas, callable from compiled code.

The point-wise MSE step (:mod:`gdlab.core.pointwise`), the optimizer rules the compiled epoch
supports (:mod:`gdlab.core.optim.rules`: GD, both momentum forms, Adam / AdamW) and the GLM's
intercept rule and L2 term (:func:`gdlab.core.models.glm.finish_flat`), the MLP's L2 term
(:func:`gdlab.core.models.mlp.l2_weights`) and the hidden activations with their derivatives
from the output (:mod:`gdlab.core.activations`) are plain functions over arrays or scalars.
Registering them with ``numba.extending.register_jitable`` lets numba-compiled kernels call the
very same functions (sigmoid's ``scipy.special.expit`` is bound to a compiled one). They are
not inlined at numba's IR level (``inline="always"``): that made numba warn
(``NumbaIRAssumptionWarning``) when ``tests/test_pointwise.py`` compiled ``adam_rule`` twice in
one function. The kernels compiled from them are stamped with these modules
(``COMPILED_SOURCES`` in :mod:`gdlab.engines.kernels._numba`), so an edit of a formula
recompiles them.

Only imported when numba is present.
"""

from __future__ import annotations

import math

from numba import njit
from numba.extending import register_jitable

from gdlab.core import activations
from gdlab.core.models.glm import finish_flat
from gdlab.core.models.mlp import l2_weights
from gdlab.core.optim.rules import (
    adam_rule,
    adam_scales,
    coupled_decay,
    gd_rule,
    lerp,
    momentum_lesson_rule,
    momentum_torch_rule,
)
from gdlab.core.pointwise import mse_point
from gdlab.engines._compiler import compile_plain

__all__ = ["adam_rule", "adam_scales", "backward_act", "finish_flat", "forward_act", "gd_rule",
           "l2_weights", "momentum_lesson_rule", "momentum_torch_rule", "mse_point"]

# the functions the compiled kernels call, and the helpers those call
for _fn in (lerp, coupled_decay, adam_scales, adam_rule, gd_rule, momentum_lesson_rule,
            momentum_torch_rule, mse_point, finish_flat, l2_weights, activations._relu,
            activations._leaky_relu, activations._elu, activations._tanh, activations._relu_da,
            activations._leaky_relu_da, activations._elu_da, activations._tanh_da,
            activations._sigmoid_da):
    register_jitable(_fn)


@register_jitable
def _expit(z):
    """scipy.special.expit for compiled code: 1 / (1 + e^-z), never overflowing."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# the core's sigmoid, with scipy's expit (not callable from numba) bound to the one above
_sigmoid = compile_plain(activations._sigmoid, rebind={"expit": _expit}, cache=True)


_relu, _leaky_relu, _elu, _tanh = (activations._relu, activations._leaky_relu,
                                   activations._elu, activations._tanh)
_relu_da, _leaky_relu_da, _elu_da = (activations._relu_da, activations._leaky_relu_da,
                                     activations._elu_da)
_tanh_da, _sigmoid_da = activations._tanh_da, activations._sigmoid_da


@njit(cache=True, error_model="numpy")
def forward_act(code, H, b):
    """H <- f(H + b) for the hidden activation ``code`` (ACT_CODES of
    :mod:`gdlab.engines.mlp_epoch`); H of shape (m, n), b of shape (n,)."""
    m, n = H.shape
    for i in range(m):
        if code == 0:
            for j in range(n):
                H[i, j] = H[i, j] + b[j]
        elif code == 1:
            for j in range(n):
                H[i, j] = _relu(H[i, j] + b[j])
        elif code == 2:
            for j in range(n):
                H[i, j] = _leaky_relu(H[i, j] + b[j])
        elif code == 3:
            for j in range(n):
                H[i, j] = _elu(H[i, j] + b[j])
        elif code == 4:
            for j in range(n):
                H[i, j] = _tanh(H[i, j] + b[j])
        else:
            for j in range(n):
                H[i, j] = _sigmoid(H[i, j] + b[j])


@njit(cache=True, error_model="numpy")
def backward_act(code, D, A):
    """D <- D f'(z) for the hidden activation ``code``, from its output A = f(z); D and A of
    shape (m, n)."""
    m, n = D.shape
    for i in range(m):
        if code == 1:
            for j in range(n):
                D[i, j] = D[i, j] * _relu_da(A[i, j])
        elif code == 2:
            for j in range(n):
                D[i, j] = D[i, j] * _leaky_relu_da(A[i, j])
        elif code == 3:
            for j in range(n):
                D[i, j] = D[i, j] * _elu_da(A[i, j])
        elif code == 4:
            for j in range(n):
                D[i, j] = D[i, j] * _tanh_da(A[i, j])
        elif code == 5:
            for j in range(n):
                D[i, j] = D[i, j] * _sigmoid_da(A[i, j])
