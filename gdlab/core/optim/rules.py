"""Each optimizer's element-wise update, written once.

A rule maps (gradient, parameters, state buffers, learning rate, step, hyperparameters) to
``(update, new buffers...)`` with ``theta_new = theta + update``. Rules use only arithmetic,
comparisons of scalar hyperparameters and NumPy ufuncs, so the same function runs two ways:

- on NumPy arrays of any shape: the optimizer classes of :mod:`gdlab.core.optim` call them in
  ``_update`` (the reference engine);
- on scalars inside compiled code: the compiled mini-batch epoch
  (:mod:`gdlab.engines.fastepoch`) registers them with numba and calls them per element.

Branches test hyperparameters only (``nesterov``, ``amsgrad``, ``t == 1`` ...), never array
values, so a rule on an array equals the rule on each element. A buffer a configuration does
not keep (Adam's ``nu_max`` without amsgrad, RMSprop's ``mu`` when not centered) is passed
as 0.0 and comes back unchanged. The operation order is PyTorch's (``tests/test_optim_torch.py``
holds every rule to ``torch.optim`` at tight tolerances).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["adagrad_rule", "adam_rule", "adam_scales", "coupled_decay", "gd_rule", "lerp",
           "momentum_lesson_rule", "momentum_torch_rule", "rmsprop_rule"]

# Arrays or scalars: rules are duck-typed on purpose (NumPy arrays, NumPy scalars, numba).
A = Any


def lerp(a: A, b: A, w: float) -> A:
    """``a + w (b - a)``, the moving-average step, written as torch.lerp rounds it.

    Algebraically ``(1 - w) a + w b``; torch switches form at w = 0.5 for accuracy, and using
    the same form keeps long runs equal to the last bits.
    """
    if w < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)


def coupled_decay(g: A, theta: A, weight_decay: float) -> A:
    """The gradient with L2 weight decay coupled into it: ``g + weight_decay * theta``."""
    if weight_decay != 0.0:
        return g + weight_decay * theta
    return g


def gd_rule(g: A, theta: A, lr: A, weight_decay: float) -> A:
    """Plain gradient descent: ``-lr * g`` (``g`` with coupled weight decay)."""
    return -lr * coupled_decay(g, theta, weight_decay)


def momentum_lesson_rule(g: A, theta: A, velocity: A, lr: A, beta: float, nesterov: bool,
                         weight_decay: float) -> tuple[A, A]:
    """The lesson's momentum: ``v <- beta v - lr g``; update ``v`` (nesterov:
    ``beta v - lr g``). Returns (update, v)."""
    g = coupled_decay(g, theta, weight_decay)
    v = beta * velocity - lr * g
    if nesterov:
        return beta * v - lr * g, v
    return v, v


def momentum_torch_rule(g: A, theta: A, buf: A, lr: A, t: A, beta: float, dampening: float,
                        nesterov: bool, weight_decay: float) -> tuple[A, A]:
    """torch.optim.SGD's momentum: ``b <- beta b + (1 - dampening) g`` (``b_1 = g``); update
    ``-lr b`` (nesterov: ``-lr (g + beta b)``). Returns (update, b)."""
    g = coupled_decay(g, theta, weight_decay)
    if t == 1:
        b = g * 1.0  # the first buffer is the gradient itself (a new array, never g's memory)
    else:
        b = beta * buf + (1.0 - dampening) * g
    if nesterov:
        return -lr * (g + beta * b), b
    return -lr * b, b


def adagrad_rule(g: A, theta: A, sum_sq: A, lr: A, t: A, eps: float, eps_inside_sqrt: bool,
                 lr_decay: float, weight_decay: float) -> tuple[A, A]:
    """Adagrad: ``sum <- sum + g^2``; update ``-lr_t g / (sqrt(sum) + eps)`` with
    ``lr_t = lr / (1 + (t - 1) lr_decay)`` (or ``sqrt(sum + eps)``). Returns (update, sum)."""
    g = coupled_decay(g, theta, weight_decay)
    clr = lr / (1 + (t - 1) * lr_decay)
    s = sum_sq + g * g
    if eps_inside_sqrt:
        std = np.sqrt(s + eps)
    else:
        std = np.sqrt(s) + eps
    # (-lr * g) / d: torch's addcdiv order, so paths agree to the last bits
    return -clr * g / std, s


def rmsprop_rule(g: A, theta: A, nu: A, mu: A, buf: A, lr: A, alpha: float, eps: float,
                 eps_inside_sqrt: bool, centered: bool, momentum: float,
                 weight_decay: float) -> tuple[A, A, A, A]:
    """RMSprop: ``nu <- alpha nu + (1 - alpha) g^2`` (centered: minus ``mu^2``, the moving
    mean of g), ``d = sqrt(nu) + eps``; update ``-lr g / d``, or with momentum
    ``buf <- momentum buf + g / d`` and ``-lr buf``. Returns (update, nu, mu, buf)."""
    g = coupled_decay(g, theta, weight_decay)
    nu = alpha * nu + (1.0 - alpha) * g * g
    s = nu
    if centered:
        mu = lerp(mu, g, 1.0 - alpha)
        s = nu - mu * mu
    if eps_inside_sqrt:
        d = np.sqrt(s + eps)
    else:
        d = np.sqrt(s) + eps
    if momentum > 0.0:
        buf = momentum * buf + g / d
        return -lr * buf, nu, mu, buf
    return -lr * g / d, nu, mu, buf


def adam_scales(lr: A, t: A, beta1: float, beta2: float) -> tuple[A, A]:
    """The bias corrections of step t, once per step: ``lr / (1 - beta1^t)`` (the step size)
    and ``sqrt(1 - beta2^t)``."""
    return lr / (1.0 - beta1**t), (1.0 - beta2**t) ** 0.5


def adam_rule(g: A, theta: A, mu: A, nu: A, nu_max: A, lr: A, step_size: A, bc2_sqrt: A,
              beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
              amsgrad: bool) -> tuple[A, A, A, A]:
    """Adam / AdamW: ``mu <- lerp(mu, g, 1 - beta1)``, ``nu <- beta2 nu + (1 - beta2) g^2``
    (amsgrad: ``nu_max <- max(nu_max, nu)`` in nu's place); update
    ``-step_size * mu / (sqrt(nu) / bc2_sqrt + eps)`` with ``(step_size, bc2_sqrt) =``
    :func:`adam_scales` ``(lr, t, beta1, beta2)``. Weight decay is coupled into g (Adam) or,
    ``decoupled``, ``-lr * weight_decay * theta`` added to the update (AdamW).
    Returns (update, mu, nu, nu_max)."""
    if not decoupled:
        g = coupled_decay(g, theta, weight_decay)
    mu = lerp(mu, g, 1.0 - beta1)
    nu = beta2 * nu + (1.0 - beta2) * g * g
    if amsgrad:
        nu_max = np.maximum(nu_max, nu)  # the larger; NaN propagates
        denom = np.sqrt(nu_max) / bc2_sqrt + eps
    else:
        denom = np.sqrt(nu) / bc2_sqrt + eps
    update = -step_size * mu / denom
    if decoupled and weight_decay != 0.0:
        update = -lr * weight_decay * theta + update
    return update, mu, nu, nu_max
