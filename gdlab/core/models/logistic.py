"""Binary logistic regression (lessons L2, L4): a = sigmoid(w^T x + b), loss BCE from logits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gdlab.core._validation import check_binary_labels
from gdlab.core.models.glm import GLM, Array


@dataclass(frozen=True)
class LogisticModel(GLM):
    """Logistic regression: one logit, sigmoid link, binary cross-entropy; labels in {0, 1}.

    dZ = A - Y, dw = X^T dZ / m, db = mean(dZ) (L4, with columns as samples: dw = X dZ^T / m).
    """

    loss: str = "bce"
    n_outputs: int = 1

    def __post_init__(self) -> None:
        if self.loss != "bce" or self.n_outputs != 1:
            raise ValueError(
                "LogisticModel has one output and loss='bce', got "
                f"n_outputs={self.n_outputs}, loss={self.loss!r}. Use SoftmaxModel for K classes."
            )
        super().__post_init__()

    def check_targets(self, y: Any, m: int) -> Array:
        y_arr = np.asarray(y)
        if y_arr.dtype.kind in "biuf" and np.isfinite(y_arr).all():
            check_binary_labels(y_arr)
        return super().check_targets(y_arr, m)
