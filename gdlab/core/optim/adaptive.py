"""Per-coordinate adaptive step sizes: Adagrad and RMSprop."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core._validation import check_choice
from gdlab.core.optim.base import Optimizer, State
from gdlab.core.optim.rules import adagrad_rule, rmsprop_rule


class Adagrad(Optimizer):
    """Adagrad: divide by the root of the running *sum* of squared gradients.

    With ``g = grad + weight_decay * theta`` and ``t = 1, 2, ...``::

        sum <- sum + g**2                       (sum_0 = initial_accumulator_value)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        theta <- theta - lr_t * g / (sqrt(sum) + eps)          eps outside (default)
        theta <- theta - lr_t * g / sqrt(sum + eps)            eps_inside_sqrt=True

    The defaults reproduce ``torch.optim.Adagrad`` exactly (eps=1e-10 outside the root). The
    lesson writes ``theta -= alpha g / sqrt(G + eps)``: use ``eps_inside_sqrt=True``. optax puts
    eps inside with ``initial_accumulator_value=0.1``.

    Parameters
    ----------
    eps : float > 0, default 1e-10
    eps_inside_sqrt : bool, default False
    initial_accumulator_value : float >= 0, default 0.0
    lr_decay : float >= 0, default 0.0
    weight_decay : float >= 0, default 0.0
    """

    _param_names = (
        "eps", "eps_inside_sqrt", "initial_accumulator_value", "lr_decay", "weight_decay"
    )

    def __init__(
        self,
        eps: float = 1e-10,
        eps_inside_sqrt: bool = False,
        initial_accumulator_value: float = 0.0,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.eps = self._check(eps, "eps", low=0.0, closed="neither")
        self.eps_inside_sqrt = check_choice(
            eps_inside_sqrt, "eps_inside_sqrt", (False, True), owner="Adagrad"
        )
        self.initial_accumulator_value = self._check(
            initial_accumulator_value, "initial_accumulator_value", low=0.0
        )
        self.lr_decay = self._check(lr_decay, "lr_decay", low=0.0)
        self.weight_decay = self._check(weight_decay, "weight_decay", low=0.0)

    def _init_state(self, params: NDArray[np.floating]) -> State:
        return {"sum": np.full_like(params, self.initial_accumulator_value)}

    def _update(
        self, g: NDArray[np.floating], state: State, params: NDArray[np.floating], lr: Any, t: int
    ) -> tuple[NDArray[np.floating], State]:
        step, s = adagrad_rule(g, params, state["sum"], lr, t, self.eps, self.eps_inside_sqrt,
                               self.lr_decay, self.weight_decay)
        return step, {"sum": s}


class RMSprop(Optimizer):
    """RMSprop: divide by the root of a moving *average* of squared gradients.

    With ``g = grad + weight_decay * theta``::

        nu <- alpha * nu + (1 - alpha) * g**2
        centered:  mu <- alpha * mu + (1 - alpha) * g;   s = nu - mu**2   else s = nu
        d = sqrt(s) + eps        (eps outside, default)    or  sqrt(s + eps)  (eps_inside_sqrt)
        momentum > 0:  buf <- momentum * buf + g / d;  theta <- theta - lr * buf
        otherwise:     theta <- theta - lr * g / d

    The defaults (alpha=0.99, eps=1e-8 outside the root) reproduce ``torch.optim.RMSprop``
    exactly, including ``centered`` and ``momentum``. The lesson's RMSprop is
    ``E = beta E + (1 - beta) g^2; theta -= alpha g / sqrt(E + eps)`` with beta = 0.9: use
    ``RMSprop(alpha=0.9, eps_inside_sqrt=True)`` (optax's default too).

    State: ``nu`` (mean square), ``mu`` (mean gradient, centered only), ``momentum_buffer``
    (momentum > 0 only).

    Parameters
    ----------
    alpha : float in [0, 1), default 0.99
    eps : float > 0, default 1e-8
    eps_inside_sqrt : bool, default False
    centered : bool, default False
    momentum : float in [0, 1), default 0.0
    weight_decay : float >= 0, default 0.0
    """

    _param_names = ("alpha", "eps", "eps_inside_sqrt", "centered", "momentum", "weight_decay")

    def __init__(
        self,
        alpha: float = 0.99,
        eps: float = 1e-8,
        eps_inside_sqrt: bool = False,
        centered: bool = False,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.alpha = self._check(alpha, "alpha", low=0.0, high=1.0, closed="left")
        self.eps = self._check(eps, "eps", low=0.0, closed="neither")
        self.eps_inside_sqrt = check_choice(
            eps_inside_sqrt, "eps_inside_sqrt", (False, True), owner="RMSprop"
        )
        self.centered = check_choice(centered, "centered", (False, True), owner="RMSprop")
        self.momentum = self._check(momentum, "momentum", low=0.0, high=1.0, closed="left")
        self.weight_decay = self._check(weight_decay, "weight_decay", low=0.0)

    def _init_state(self, params: NDArray[np.floating]) -> State:
        state = {"nu": np.zeros_like(params)}
        if self.centered:
            state["mu"] = np.zeros_like(params)
        if self.momentum > 0.0:
            state["momentum_buffer"] = np.zeros_like(params)
        return state

    def _update(
        self, g: NDArray[np.floating], state: State, params: NDArray[np.floating], lr: Any, t: int
    ) -> tuple[NDArray[np.floating], State]:
        step, nu, mu, buf = rmsprop_rule(
            g, params, state["nu"], state.get("mu", 0.0), state.get("momentum_buffer", 0.0),
            lr, self.alpha, self.eps, self.eps_inside_sqrt, self.centered, self.momentum,
            self.weight_decay)
        new: State = {"nu": nu}
        if self.centered:
            new["mu"] = mu
        if self.momentum > 0.0:
            new["momentum_buffer"] = buf
        return step, new
