"""Networks in the table workflows: the MLP estimator `gdlab fit --model mlp` trains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["mlp_estimator"]


def mlp_estimator(task: str, hidden: Sequence[int] | None, activation: Any,
                  dropout: float | None, **params: Any) -> Any:
    """MLPClassifier (binary, multiclass) or MLPRegressor (regression) with the given hidden
    layers, activation(s) and dropout (None: the estimator's defaults) and other parameters."""
    from gdlab.estimators.mlp import MLPClassifier, MLPRegressor

    if hidden is not None:
        params["hidden_layer_sizes"] = tuple(hidden)
    if activation is not None:
        params["activation"] = activation if isinstance(activation, str) else list(activation)
    if dropout is not None:
        params["dropout"] = dropout
    cls = MLPRegressor if task == "regression" else MLPClassifier
    return cls(**params)
