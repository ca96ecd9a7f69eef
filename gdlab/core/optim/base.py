"""The optimizer contract shared by every class in :mod:`gdlab.core.optim`.

An optimizer holds hyperparameters only. Two pure methods do the work (optax's shape)::

    state = opt.init(params)
    updates, state = opt.update(grads, state, params, lr)
    params = params + updates

The learning rate is passed to every ``update`` so that schedules live outside the optimizer.
``state`` is a dict of plain NumPy arrays (it saves to ``.npz`` and restores); the step
counter ``state["count"]`` is a 0-d int64 array holding the number of updates done so far.
Every rule is element-wise, so ``params`` may have any shape: ``(d,)``, a batch of starting
points ``(n_starts, d)``, a weight matrix ``(n_features, K)`` ... and the result equals the
rule applied to each element on its own. float32 params give float32 state and updates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdlab.core._params import HasParams

State = dict[str, NDArray[Any]]


def _float_dtype(params: NDArray[Any]) -> np.dtype[Any]:
    # float32 stays float32; integers and anything else compute in float64
    if params.dtype in (np.float32, np.float64):
        return params.dtype
    return np.dtype(np.float64)


class Optimizer(HasParams, ABC):
    """Base class: hyperparameter bookkeeping, ``init``/``update`` plumbing.

    Subclasses list their hyperparameters in ``_param_names`` and implement
    ``_init_state(params)`` and ``_update(g, state, params, lr, t)`` where ``g`` is the
    gradient cast to the params' dtype and ``t`` the 1-based number of this step.
    """

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_params().items()))))

    # -- the contract ---------------------------------------------------------------------
    def init(self, params: ArrayLike) -> State:
        """Return the initial state for ``params`` (any shape).

        Parameters
        ----------
        params : array of any shape
            The parameters the optimizer will update.

        Returns
        -------
        state : dict of str to ndarray
            Buffers shaped like ``params`` plus ``count``, a 0-d int64 array equal to 0.
        """
        p = np.asarray(params)
        dtype = _float_dtype(p)
        state: State = {"count": np.zeros((), dtype=np.int64)}
        state.update(self._init_state(p.astype(dtype, copy=False)))
        return state

    def update(
        self, grads: ArrayLike, state: State, params: ArrayLike, lr: float | ArrayLike
    ) -> tuple[NDArray[np.floating], State]:
        """Compute one step's updates; inputs are never modified.

        Parameters
        ----------
        grads : array, same shape as ``params``
            Gradient of the loss at ``params``.
        state : dict
            From :meth:`init` or the previous ``update``.
        params : array of any shape
            Current parameters (needed by weight decay).
        lr : float or array broadcastable to ``params``
            Learning rate of this step.

        Returns
        -------
        updates : array, same shape and dtype as ``params``
            Add to the parameters: ``params = params + updates``.
        state : dict
            New state (new arrays; the old state is untouched).
        """
        p = np.asarray(params)
        dtype = _float_dtype(p)
        p = p.astype(dtype, copy=False)
        g = np.asarray(grads, dtype=dtype)
        if g.shape != p.shape:
            raise ValueError(
                f"The gradient given to {type(self).__name__}.update has shape {g.shape} but "
                f"the parameters have shape {p.shape}; pass the gradient of the loss with "
                "respect to these parameters."
            )
        if np.ndim(lr) == 0:
            # a Python float keeps float32 arrays float32 (NumPy 2 promotion rules)
            lr_ = float(lr)  # type: ignore[arg-type]  # numpy's ArrayLike: 0-d here
        else:
            lr_ = np.asarray(lr, dtype=dtype)  # type: ignore[assignment]  # an array rate
        t = int(state["count"]) + 1
        updates, new_state = self._update(g, state, p, lr_, t)
        new_state["count"] = np.asarray(t, dtype=np.int64)
        return np.asarray(updates, dtype=dtype), new_state

    # -- to implement ---------------------------------------------------------------------
    def _init_state(self, params: NDArray[np.floating]) -> State:  # pragma: no cover
        return {}

    @abstractmethod
    def _update(
        self, g: NDArray[np.floating], state: State, params: NDArray[np.floating], lr: Any, t: int
    ) -> tuple[NDArray[np.floating], State]:
        """Updates and the new state at step t (1, 2, ...) for gradient g and rate lr."""
