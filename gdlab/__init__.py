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
    "LinearRegression": "gdlab.estimators",
    "LogisticRegression": "gdlab.estimators",
    "SoftmaxRegression": "gdlab.estimators",
    "GradCheckResult": "gdlab.gradcheck",
    "check_gradient": "gdlab.gradcheck",
    "check_model_gradient": "gdlab.gradcheck",
    "GLM": "gdlab.models",
    "LinearModel": "gdlab.models",
    "LogisticModel": "gdlab.models",
    "SoftmaxModel": "gdlab.models",
    "GD": "gdlab.optim",
    "SGD": "gdlab.optim",
    "Momentum": "gdlab.optim",
    "Nesterov": "gdlab.optim",
    "Adagrad": "gdlab.optim",
    "RMSprop": "gdlab.optim",
    "Adam": "gdlab.optim",
    "AdamW": "gdlab.optim",
    "get_optimizer": "gdlab.optim",
    "get_schedule": "gdlab.schedules",
    "DivergenceError": "gdlab.train",
    "load": "gdlab.io.models",
    "minimize": "gdlab.descent",
}

__all__ = sorted(_EXPORTS)

def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gdlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
