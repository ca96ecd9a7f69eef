"""Optimizers as pure ``(init, update)`` pairs over plain NumPy state.

::

    opt = Adam()
    state = opt.init(params)
    for t in range(n_steps):
        updates, state = opt.update(grad(params), state, params, lr)
        params = params + updates

See :mod:`gdlab.core.optim.base` for the full contract. Classes, in order of increasing
complexity: :class:`GD`, :class:`Momentum` / :class:`Nesterov` / :class:`SGD`,
:class:`Adagrad`, :class:`RMSprop`, :class:`Adam`, :class:`AdamW`. Each update is a plain
element-wise function in :mod:`gdlab.core.optim.rules`, which the compiled engine runs too.
"""

from __future__ import annotations

from typing import Any

from gdlab.core.optim.adam import Adam, AdamW
from gdlab.core.optim.adaptive import Adagrad, RMSprop
from gdlab.core.optim.base import Optimizer, State
from gdlab.core.optim.sgd import GD, SGD, Momentum, Nesterov

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gd": GD,
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}


def get_optimizer(spec: Any, **kwargs: Any) -> Any:
    """Turn a name, a class or an optimizer object into an optimizer.

    Parameters
    ----------
    spec : str, Optimizer subclass or optimizer object
        A name from :data:`OPTIMIZERS` (case-insensitive), e.g. ``"adam"``; a class such as
        ``Adam``; or an object with ``init`` and ``update`` methods, returned unchanged.
    **kwargs
        Hyperparameters for the class named by ``spec`` (not allowed with an object).

    Returns
    -------
    optimizer
        An object following the :mod:`gdlab.core.optim` contract.
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in OPTIMIZERS:
            valid = ", ".join(repr(k) for k in OPTIMIZERS)
            raise ValueError(
                f"Unknown optimizer {spec!r}. Valid names are {valid} (case-insensitive), or "
                "pass an optimizer object such as gdlab.core.optim.Adam(beta1=0.9)."
            )
        return OPTIMIZERS[key](**kwargs)
    if isinstance(spec, type) and issubclass(spec, Optimizer):
        return spec(**kwargs)
    if callable(getattr(spec, "init", None)) and callable(getattr(spec, "update", None)):
        if kwargs:
            raise TypeError(
                f"Hyperparameters {sorted(kwargs)} were given together with the optimizer "
                f"object {spec!r}; set them when creating the object, or pass a name instead."
            )
        return spec
    valid = ", ".join(repr(k) for k in OPTIMIZERS)
    raise ValueError(
        f"The 'optimizer' must be a name ({valid}), an Optimizer class or an object with "
        f"init and update methods. Got {spec!r} of type {type(spec).__name__} instead."
    )


__all__ = [
    "GD",
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "State",
    "get_optimizer",
]
