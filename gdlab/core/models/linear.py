"""Linear regression (lesson L1): y_hat = X w + b, loss (y_hat - y)^2, dL/dz = 2 (y_hat - y)."""

from __future__ import annotations

from dataclasses import dataclass

from gdlab.core.models.glm import GLM


@dataclass(frozen=True)
class LinearModel(GLM):
    """Linear regression on theta = [w; b]; ``n_outputs > 1`` fits several targets at once.

    Examples
    --------
    >>> import numpy as np
    >>> model = LinearModel(n_features=1)
    >>> theta = np.array([-0.34, 0.049])          # [w, b], the lesson's start
    >>> X = np.array([[6.7], [4.6]]); y = np.array([9.1, 5.9])
    >>> loss, grad = model.loss_and_grad(theta, X, y)
    >>> round(loss, 6), np.round(grad, 4).tolist()
    (91.664233, [-110.0133, -18.744])
    """

    loss: str = "mse"

    def __post_init__(self) -> None:
        if self.loss != "mse":
            raise ValueError(f"LinearModel uses loss='mse', got {self.loss!r}.")
        super().__post_init__()
