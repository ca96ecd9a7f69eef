"""Softmax (multinomial logistic) regression (lesson L2): y_hat = softmax(X W + b).

The loss is categorical cross-entropy by default (dL/dZ = Y_hat - Y); ``loss="mse"`` and
``loss="bce"`` apply those losses to the softmax outputs, for the lesson's comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gdlab.core._validation import check_n_classes
from gdlab.core.models.glm import GLM, Array

_ALIASES = {"cce": "cce", "mse": "softmax_mse", "bce": "softmax_bce",
            "softmax_mse": "softmax_mse", "softmax_bce": "softmax_bce"}


@dataclass(frozen=True)
class SoftmaxModel(GLM):
    """Softmax regression over K = n_outputs classes; labels are integers 0..K-1 or one-hot."""

    loss: str = "cce"
    n_outputs: int = 2

    def __post_init__(self) -> None:
        check_n_classes(self.n_outputs, "n_outputs")
        if self.loss not in _ALIASES:
            raise ValueError(
                f"The 'loss' parameter of SoftmaxModel must be one of {{'cce', 'mse', 'bce'}}. "
                f"Got {self.loss!r} instead."
            )
        object.__setattr__(self, "loss", _ALIASES[self.loss])
        super().__post_init__()

    def check_targets(self, y: Any, m: int) -> Array:
        y_arr = super().check_targets(y, m)
        if y_arr.ndim == 1:
            labels = np.asarray(y_arr)
            if labels.size and (labels.min() < 0 or labels.max() >= self.n_outputs
                                or not np.all(np.mod(labels, 1) == 0)):
                raise ValueError(
                    f"Input y must hold class indices 0..{self.n_outputs - 1}, got values from "
                    f"{labels.min()} to {labels.max()}. Encode labels with LabelEncoder first."
                )
        return y_arr
