"""gdlab: gradient descent, understandable and fast.

Vectorized linear, logistic and softmax regression (with their loop twins), optimizers and
learning-rate schedules, one training loop, scikit-learn compatible estimators, and descent
on any typed function with symbolic gradients.

Names are imported on first use, so ``gdlab explain`` does not pay for scikit-learn or SymPy.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "LinearRegression": "gdlab.estimators.linear",
    "LogisticRegression": "gdlab.estimators.linear",
    "SoftmaxRegression": "gdlab.estimators.linear",
    "MLPClassifier": "gdlab.estimators.mlp",
    "MLPRegressor": "gdlab.estimators.mlp",
    "GradCheckResult": "gdlab.core.gradcheck",
    "check_gradient": "gdlab.core.gradcheck",
    "check_model_gradient": "gdlab.core.gradcheck",
    "GLM": "gdlab.core.models",
    "LinearModel": "gdlab.core.models",
    "MLP": "gdlab.core.models",
    "LogisticModel": "gdlab.core.models",
    "SoftmaxModel": "gdlab.core.models",
    "GD": "gdlab.core.optim",
    "SGD": "gdlab.core.optim",
    "Momentum": "gdlab.core.optim",
    "Nesterov": "gdlab.core.optim",
    "Adagrad": "gdlab.core.optim",
    "RMSprop": "gdlab.core.optim",
    "Adam": "gdlab.core.optim",
    "AdamW": "gdlab.core.optim",
    "get_optimizer": "gdlab.core.optim",
    "get_schedule": "gdlab.core.schedules",
    "DivergenceError": "gdlab.core.loop",
    "load": "gdlab.estimators.persist",
    "minimize": "gdlab.functions.descent",
    "datasets": "gdlab.core.datasets",
}

__all__ = sorted(_EXPORTS)

def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gdlab' has no attribute {name!r}")
    imported = importlib.import_module(module)
    # a name that is the module's own last part is the module (gdlab.datasets)
    value = imported if module.rpartition(".")[2] == name else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
