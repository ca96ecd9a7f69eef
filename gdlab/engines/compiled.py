"""The compiled engine: fused full-batch kernels and whole mini-batch epochs (numba).

It serves the GLM's canonical heads (identity + MSE with one output, sigmoid + BCE, softmax +
CCE on integer labels) on row-major data in memory. ``loss_and_grad`` uses a fused kernel
only from the sizes where it beats the reference formula
(:func:`gdlab.engines.kernels.fused_min_size`); below them, and for every other case, it
returns None and the model's NumPy formula runs, so small data never loads compiled code.
``epoch_runner`` hands mini-batch epochs to :mod:`gdlab.engines.fastepoch`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from numpy.typing import NDArray

from gdlab.core.models import GLM

Array = NDArray[Any]

__all__ = ["ENGINE", "CompiledEngine"]

#: the heads with a fused kernel, by the GLM's loss name
_HEADS = ("mse", "bce", "cce")


class CompiledEngine:
    """Accelerator for GLMs on data in memory (see the module docstring)."""

    name = "compiled"

    def available(self) -> bool:
        """True when numba is installed (found, not imported)."""
        return importlib.util.find_spec("numba") is not None

    def why_unavailable(self) -> str:
        return ("numba is not installed. Install the compiled engine with "
                "`pip install gdlab[fast]` (or numba), or use engine='numpy'.")

    def loss_and_grad(self, model: Any, theta: Array, X: Array, y: Array,
                      sample_weight: Array | None) -> tuple[float, Array] | None:
        """The mean data term by a fused kernel, or None where the model's formula runs."""
        if not (isinstance(model, GLM) and model.layout == "rows" and y.ndim == 1
                and model.loss in _HEADS and (model.loss != "mse" or model.n_outputs == 1)):
            return None
        from gdlab.engines import kernels

        if X.shape[0] * X.shape[1] < kernels.fused_min_size(model.loss, X):
            return None
        nk = model.n_features * model.n_outputs
        W, b = theta[:nk].reshape(model.n_features, model.n_outputs), theta[nk:]
        loss, gW, gb = kernels.loss_grad(model.loss, X, y, W, b, sample_weight=sample_weight)
        return model.finish(loss, gW, gb, W, 0.0)

    def epoch_runner(self, problem: Any, optimizer: Any, config: Any,
                     step_callbacks: Any = ()) -> Any:
        """A :class:`gdlab.engines.fastepoch.FastEpoch` when it serves the run, else None."""
        from gdlab.engines import fastepoch

        return fastepoch.plan(problem, optimizer, config, step_callbacks)


ENGINE = CompiledEngine()

