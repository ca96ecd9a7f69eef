"""Plain gradient descent and momentum (heavy ball, Nesterov)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core._validation import check_choice
from gdlab.core.optim.base import Optimizer, State
from gdlab.core.optim.rules import gd_rule, momentum_lesson_rule, momentum_torch_rule


class GD(Optimizer):
    """Plain gradient descent: ``theta <- theta - lr * g``.

    Same as ``torch.optim.SGD(params, lr)`` with its defaults. No state besides ``count``.
    """

    def __init__(self) -> None:
        pass

    def _update(
        self, g: NDArray[np.floating], state: State, params: NDArray[np.floating], lr: Any, t: int
    ) -> tuple[NDArray[np.floating], State]:
        return gd_rule(g, params, lr, 0.0), {}


class Momentum(Optimizer):
    """Gradient descent with momentum, in the lesson's form or in PyTorch's.

    With ``g = grad + weight_decay * theta`` (coupled L2 decay, as torch does):

    ``form="lesson"`` (state ``velocity``, the learning rate sits inside the velocity)::

        v <- beta * v - lr * g              (v_0 = 0)
        theta <- theta + v                  (nesterov: theta <- theta + beta * v - lr * g)

    ``form="torch"`` (state ``mu``, exactly ``torch.optim.SGD(momentum=beta, dampening=...,
    nesterov=..., weight_decay=...)``)::

        b <- beta * b + (1 - dampening) * g   (b_1 = g)
        g' = g + beta * b if nesterov else b
        theta <- theta - lr * g'

    With a constant learning rate both forms give the same path (``v = -lr * b``); with a
    schedule they differ, because the lesson's velocity keeps the old learning rates.
    ``dampening`` exists only in the torch form; Nesterov needs ``dampening=0`` (as in torch).
    With ``beta=0`` no buffer is kept and the step is plain gradient descent.

    Parameters
    ----------
    beta : float in [0, 1), default 0.9
        Momentum coefficient (torch's ``momentum``).
    form : {"lesson", "torch"}, default "lesson"
    nesterov : bool, default False
    dampening : float in [0, 1], default 0.0
    weight_decay : float >= 0, default 0.0
    """

    _param_names: tuple[str, ...] = ("beta", "form", "nesterov", "dampening", "weight_decay")

    def __init__(
        self,
        beta: float = 0.9,
        form: str = "lesson",
        nesterov: bool = False,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        owner = type(self).__name__
        self.beta = self._check(beta, "beta", low=0.0, high=1.0, closed="left")
        self.form = check_choice(form, "form", ("lesson", "torch"), owner=owner)
        self.nesterov = check_choice(nesterov, "nesterov", (False, True), owner=owner)
        self.dampening = self._check(dampening, "dampening", low=0.0, high=1.0)
        self.weight_decay = self._check(weight_decay, "weight_decay", low=0.0)
        if self.dampening != 0.0 and self.form == "lesson":
            raise ValueError(
                f"The 'dampening' parameter of {owner} is only defined for form='torch'. Got "
                f"dampening={dampening!r} with form='lesson'; use form='torch' or dampening=0."
            )
        if self.nesterov and self.dampening != 0.0:
            raise ValueError(
                f"Nesterov momentum in {owner} requires dampening=0 (as in torch.optim.SGD). "
                f"Got dampening={dampening!r}; set dampening=0 or nesterov=False."
            )

    def _buffer_name(self) -> str:
        return "velocity" if self.form == "lesson" else "mu"

    def _init_state(self, params: NDArray[np.floating]) -> State:
        if self.beta == 0.0:
            return {}
        return {self._buffer_name(): np.zeros_like(params)}

    def _update(
        self, g: NDArray[np.floating], state: State, params: NDArray[np.floating], lr: Any, t: int
    ) -> tuple[NDArray[np.floating], State]:
        wd = self.weight_decay
        if self.beta == 0.0:
            return gd_rule(g, params, lr, wd), {}
        if self.form == "lesson":
            step, v = momentum_lesson_rule(g, params, state["velocity"], lr, self.beta,
                                           self.nesterov, wd)
            return step, {"velocity": v}
        step, b = momentum_torch_rule(g, params, state["mu"], lr, t, self.beta, self.dampening,
                                      self.nesterov, wd)
        return step, {"mu": b}


class Nesterov(Momentum):
    """Nesterov momentum: :class:`Momentum` with ``nesterov=True``.

    Lesson form: ``v <- beta v - lr g; theta <- theta + beta v - lr g``. Torch form:
    ``torch.optim.SGD(momentum=beta, nesterov=True)`` exactly.
    """

    _param_names = ("beta", "form", "weight_decay")

    def __init__(self, beta: float = 0.9, form: str = "lesson", weight_decay: float = 0.0) -> None:
        super().__init__(beta=beta, form=form, nesterov=True, weight_decay=weight_decay)


class SGD(Momentum):
    """``torch.optim.SGD``'s arguments and rule, for users coming from PyTorch.

    Exactly :class:`Momentum` with ``form="torch"`` and ``beta=momentum``; with the default
    ``momentum=0`` it is plain gradient descent (:class:`GD`). "Stochastic" comes from the
    batches the training loop feeds, not from the update rule.
    """

    _param_names = ("momentum", "dampening", "nesterov", "weight_decay")

    def __init__(
        self,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.momentum = self._check(momentum, "momentum", low=0.0, high=1.0, closed="left")
        if nesterov is True and self.momentum == 0.0:
            raise ValueError(
                "Nesterov momentum in SGD requires a momentum > 0. Got momentum=0 with "
                "nesterov=True; set momentum (e.g. 0.9) or nesterov=False."
            )
        super().__init__(
            beta=self.momentum,
            form="torch",
            nesterov=nesterov,
            dampening=dampening,
            weight_decay=weight_decay,
        )
