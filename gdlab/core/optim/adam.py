"""Adam and AdamW: moving averages of the gradient and its square, bias-corrected."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core._validation import check_choice
from gdlab.core.optim.base import Optimizer, State
from gdlab.core.optim.rules import adam_rule, adam_scales


class Adam(Optimizer):
    """Adam (Kingma & Ba), with PyTorch's placement of eps.

    With ``g = grad + weight_decay * theta`` (coupled L2, as ``torch.optim.Adam``) and
    ``t = 1, 2, ...``::

        mu <- beta1 * mu + (1 - beta1) * g
        nu <- beta2 * nu + (1 - beta2) * g**2
        (amsgrad: nu_max <- max(nu_max, nu), used in place of nu below)
        theta <- theta - lr / (1 - beta1**t) * mu / (sqrt(nu) / sqrt(1 - beta2**t) + eps)

    eps sits outside the root and is added to the bias-corrected ``sqrt(nu_hat)``. The defaults
    reproduce ``torch.optim.Adam`` exactly (also with ``amsgrad`` and ``weight_decay``); the
    lesson's Adam is the same rule. (scikit-learn's MLP adds eps to the uncorrected root, a
    third variant.)

    Parameters
    ----------
    beta1 : float in [0, 1), default 0.9
    beta2 : float in [0, 1), default 0.999
    eps : float > 0, default 1e-8
    amsgrad : bool, default False
    weight_decay : float >= 0, default 0.0
    """

    _param_names = ("beta1", "beta2", "eps", "amsgrad", "weight_decay")
    #: AdamW's decay applied to theta directly (torch's ``decoupled_weight_decay``)
    decoupled_weight_decay = False

    def __init__(
        self,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        amsgrad: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        owner = type(self).__name__
        self.beta1 = self._check(beta1, "beta1", low=0.0, high=1.0, closed="left")
        self.beta2 = self._check(beta2, "beta2", low=0.0, high=1.0, closed="left")
        self.eps = self._check(eps, "eps", low=0.0, closed="neither")
        self.amsgrad = check_choice(amsgrad, "amsgrad", (False, True), owner=owner)
        self.weight_decay = self._check(weight_decay, "weight_decay", low=0.0)

    def _init_state(self, params: NDArray[np.floating]) -> State:
        state = {"mu": np.zeros_like(params), "nu": np.zeros_like(params)}
        if self.amsgrad:
            state["nu_max"] = np.zeros_like(params)
        return state

    def _update(
        self, g: NDArray[np.floating], state: State, params: NDArray[np.floating], lr: Any, t: int
    ) -> tuple[NDArray[np.floating], State]:
        step_size, bc2_sqrt = adam_scales(lr, t, self.beta1, self.beta2)
        step, mu, nu, nu_max = adam_rule(
            g, params, state["mu"], state["nu"], state.get("nu_max", 0.0), lr, step_size,
            bc2_sqrt, self.beta1, self.beta2, self.eps, self.weight_decay,
            self.decoupled_weight_decay, self.amsgrad)
        new: State = {"mu": mu, "nu": nu}
        if self.amsgrad:
            new["nu_max"] = nu_max
        return step, new


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter): Adam with decoupled weight decay.

    First ``theta <- theta - lr * weight_decay * theta``, then the Adam step of :class:`Adam`
    on the raw gradient (the decay never enters ``mu`` or ``nu``). The defaults reproduce
    ``torch.optim.AdamW`` exactly (weight_decay=1e-2; optax's default is 1e-4), also with
    ``amsgrad``.

    Parameters
    ----------
    beta1, beta2, eps, amsgrad
        As in :class:`Adam`.
    weight_decay : float >= 0, default 1e-2
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        amsgrad: bool = False,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(beta1, beta2, eps, amsgrad, weight_decay)
