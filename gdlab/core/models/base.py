"""The model protocol: what the loop, estimators, model files and checkpoints need of a model.

A model is a small frozen description (sizes, loss, activations); its parameters are one flat
vector ``theta`` passed in and out, so optimizers, the loop, checkpoints and model files stay
generic. Every model implements :class:`Model` and is registered by name in :data:`MODELS`
(``@register_model``), so a model file or a checkpoint names its model and
:func:`model_from_config` rebuilds it without a hard-coded list of classes.

Gradients are sums over rows: with ``reduction="sum"`` and ``alpha=0`` the data term of any
batch is the sum of the data terms of its row blocks, and :meth:`Model.penalty` adds the L2
term once. A source that splits the data (row blocks of a Dask collection) relies on this.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]

__all__ = ["MODELS", "Model", "model_from_config", "register_model"]


@runtime_checkable
class Model(Protocol):
    """A differentiable model on a flat parameter vector.

    Shapes: X is (m, n_features); targets are (m,) or (m, n_outputs) (integer labels (m,) for
    a softmax head); theta is (n_params,).
    """

    #: the registry key, written to model files and checkpoints
    name: ClassVar[str]

    @property
    def n_params(self) -> int:
        """Length of theta."""
        ...

    @property
    def n_outputs(self) -> int:
        """Number of outputs K of the head (1 for regression on one target and for BCE)."""
        ...

    def init(self, random_state: Any = 0, *, dtype: Any = np.float64) -> Array:
        """Seeded initial parameters of shape (n_params,)."""
        ...

    def logits(self, theta: Array, X: Array) -> Array:
        """The head's input z: shape (m,) with one output, (m, K) otherwise."""
        ...

    def forward(self, theta: Array, X: Array) -> Array:
        """The prediction y_hat: the logits through the head's link."""
        ...

    def check_targets(self, y: Any, m: int) -> Array:
        """Validated targets for m rows, in the form :meth:`loss_and_grad` takes."""
        ...

    def loss_and_grad(self, theta: Array, X: Array, y: Any, *,
                      sample_weight: Array | None = None, reduction: str = "mean",
                      alpha: float = 0.0) -> tuple[float, Array]:
        """Loss (plus ``penalty``) and its gradient with respect to theta, shape (n_params,)."""
        ...

    def penalty(self, theta: Array, alpha: float) -> tuple[float, Array]:
        """The L2 term ``alpha / 2 ||weights||^2`` (biases unpenalized) and its gradient."""
        ...

    def get_config(self) -> dict[str, Any]:
        """JSON-able constructor arguments: ``from_config(get_config())`` rebuilds the model."""
        ...


M = TypeVar("M", bound=type)

#: name -> model class; filled by :func:`register_model`
MODELS: dict[str, type] = {}


def register_model(cls: M) -> M:
    """Class decorator: make ``cls`` rebuildable from a model file or checkpoint by its name."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute 'name' (a non-empty str) to "
                        "be registered as a model.")
    MODELS[name] = cls
    return cls


def model_from_config(name: Any, config: Any) -> Model:
    """Rebuild a registered model from its name and :meth:`Model.get_config`.

    Raises ValueError naming the model and the valid names when the name is unknown, and when
    the configuration is not a dict of the model's constructor arguments.
    """
    if not isinstance(name, str) or name not in MODELS:
        shown = repr(name)[:80]
        raise ValueError(f"Unknown model {shown}; expected one of {sorted(MODELS)}.")
    if not isinstance(config, dict):
        raise ValueError(f"The configuration of model {name!r} must be a JSON object, got "
                         f"{type(config).__name__}.")
    cls = MODELS[name]
    try:
        model: Model = cls(**config)
    except TypeError as exc:
        raise ValueError(f"Invalid configuration for model {name!r}: {exc}") from exc
    return model
