"""The compiled engine: fused full-batch kernels and whole mini-batch epochs (numba).

It serves the GLM's canonical heads (identity + MSE with one output, sigmoid + BCE, softmax +
CCE on integer labels) on row-major data in memory. ``loss_and_grad`` uses a fused kernel
only from the sizes where it beats the reference formula
(:func:`gdlab.engines.kernels.fused_min_size`); below them, and for every other case, it
returns None and the model's NumPy formula runs. ``epoch_runner`` hands mini-batch epochs to
:mod:`gdlab.engines.fastepoch` (GLMs) or :mod:`gdlab.engines.mlp_epoch` (MLPs);
``twin("shuffle")`` compiles the epoch shuffle's plain loops (:mod:`gdlab.core.shuffle`).

Compiled code is loaded only when it repays its cost (``COMPILE = "auto"``). Importing numba
and loading a cached kernel costs a new process ``LOAD_SECONDS``; compiling it when numba's
cache is cold (a fresh install, or gdlab's compiled sources changed) ``COMPILE_SECONDS``.

- Mini-batch epochs: the compiled epoch saves ~``STEP_SECONDS`` of Python per step, so a run
  of at most ``epochs x batches`` steps takes it when that saving reaches the cost: on 333
  rows (2 batches of 256, 200 epochs: 0.06 s) the Python loop runs and numba is never
  imported; once the kernel is loaded in the process, every later run takes it.
- Full batch: above the size threshold the kernel is loaded when cached; with a cold cache it
  is compiled only from ``COLD_SIZE_FACTOR`` times the threshold.
- The epoch shuffle: loaded from ``gdlab.core.shuffle.COMPILED_MIN_ROWS`` rows when cached,
  compiled with a cold cache from ``COLD_SHUFFLE_ROWS`` rows, or with the compiled epochs.

Every compilation is announced once per process by an INFO record of the ``gdlab`` logger
("compiling the fused kernels (once; cached in ...)"), which the command line prints.
``COMPILE = "always"`` (or the environment variable ``GDLAB_COMPILE=always``) uses compiled
code whenever it serves the case (the tests of the compiled paths and the benchmarks).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from numpy.typing import NDArray

from gdlab.core.models import GLM, MLP
from gdlab.core.sources import resolve_batch_size
from gdlab.engines._compiler import announce, compile_plain, is_cached, numba_available

Array = NDArray[Any]

__all__ = ["COLD_SIZE_FACTOR", "COMPILE", "COMPILE_SECONDS", "ENGINE", "LOAD_SECONDS",
           "MLP_ELEMENT_SECONDS", "MLP_STEP_SECONDS", "STEP_SECONDS", "CompiledEngine"]

#: "auto": load or compile only when it repays (see the module docstring); "always": whenever
#: a compiled path serves the case.
COMPILE = os.environ.get("GDLAB_COMPILE", "auto")
#: Python-loop time of one mini-batch step that a compiled epoch saves (the loop's ~150 us
#: per step: `python benchmarks/minibatch_epoch.py`).
STEP_SECONDS = 150e-6
#: The same for a step of a multilayer perceptron: MLP_STEP_SECONDS plus MLP_ELEMENT_SECONDS
#: per element of the step's element-wise work (batch rows x hidden units, and five passes
#: over the parameters). Measured: a 200-row batch of a 50-128-10 network ~0.5 ms in the loop,
#: ~0.13 ms compiled; 16 rows of a 2-8-8-1 network 90 us and 13 us.
MLP_STEP_SECONDS = 60e-6
MLP_ELEMENT_SECONDS = 5e-9
#: Importing numba and loading the cached compiled epoch and shuffle in a new process, and
#: compiling them with a cold cache: `python benchmarks/startup.py --compile` measured 1.1 s
#: and 32 s with the 2-core machine at load 8 (the Python loop then ~3x slower as well), so
#: about 0.4 s and 10 s in the units of STEP_SECONDS (docs/benchmarks.md, "Start-up").
LOAD_SECONDS = 0.5
COMPILE_SECONDS = 10.0
#: With a cold cache a full-batch kernel is compiled only for X of at least this many times
#: its size threshold (1e7 entries for linear / logistic: ~25 ms saved per step).
COLD_SIZE_FACTOR = 10
#: With a cold cache the epoch shuffle alone (no compiled epoch in the run) is compiled only
#: from this many rows: the plain loops take ~1 s per 10^6 rows, compiling ~10 s.
COLD_SHUFFLE_ROWS = 1_000_000

#: the heads with a fused kernel, by the GLM's loss name
_HEADS = ("mse", "bce", "cce")
_TWINS: dict[str, Any] = {}  # loaded or compiled: in use
_BUILT: dict[str, Any] = {}  # dispatchers made, maybe not compiled yet


def _shuffle_twins() -> Any:
    """The epoch shuffle's plain loops as numba dispatchers (compiled on their first call), as
    a :class:`gdlab.core.shuffle.Loops`."""
    import numba
    import numpy as np

    from gdlab.core import shuffle

    names = {"u64": np.uint64, "i64": np.int64, "prange": numba.prange}
    fisher_yates = compile_plain(shuffle._fisher_yates, rebind=names, nogil=True, cache=True)
    deal = compile_plain(shuffle._deal, rebind=names, parallel=True, cache=True)
    buckets = compile_plain(shuffle._shuffle_buckets,
                            rebind={**names, "_fisher_yates": fisher_yates},
                            parallel=True, cache=True)
    return shuffle.Loops(fisher_yates, deal, buckets, compiled=True)


class CompiledEngine:
    """Accelerator for GLMs on data in memory (see the module docstring)."""

    name = "compiled"

    def __init__(self) -> None:
        self._ready: dict[tuple[Any, ...], bool] = {}

    def available(self) -> bool:
        """True when numba is installed (found, not imported)."""
        return numba_available()

    def why_unavailable(self) -> str:
        return ("numba is not installed (or GDLAB_NO_NUMBA=1 is set). Install the compiled "
                "engine with "
                "`pip install gdlab[fast]` (or numba), or use engine='numpy'.")

    def twin(self, name: str, load: bool = True, size: int | None = None) -> Any:
        """The compiled twin of the core's plain loops ``name`` ("shuffle"), or None.

        ``load=False``: only when this process has compiled or loaded it already. With a cold
        cache it is compiled only for ``size`` of at least ``COLD_SHUFFLE_ROWS`` (None: any).
        """
        if name != "shuffle":
            return None
        if name in _TWINS:
            return _TWINS[name]
        if not load:
            return None
        if name not in _BUILT:
            _BUILT[name] = _shuffle_twins()
        loops = _BUILT[name]
        kernels = (loops.fisher_yates, loops.deal, loops.shuffle_buckets)
        if (COMPILE != "always" and size is not None and size < COLD_SHUFFLE_ROWS
                and not all(is_cached(k) for k in kernels)):
            return None  # the plain loops cost less than compiling
        announce("the epoch shuffle", kernels)
        _TWINS[name] = loops
        return loops

    def loss_and_grad(self, model: Any, theta: Array, X: Array, y: Array,
                      sample_weight: Array | None) -> tuple[float, Array] | None:
        """The mean data term by a fused kernel, or None where the model's formula runs."""
        if not (isinstance(model, GLM) and model.layout == "rows" and y.ndim == 1
                and model.loss in _HEADS and (model.loss != "mse" or model.n_outputs == 1)):
            return None
        from gdlab.engines import kernels

        size = X.shape[0] * X.shape[1]
        if size < min(kernels.FUSED_MIN_SIZE, kernels.FUSED_MIN_SIZE_NARROW,
                      kernels.FUSED_MIN_SIZE_SOFTMAX):
            return None  # below every threshold: skip fused_min_size's checks of X
        threshold = kernels.fused_min_size(model.loss, X)
        if size < threshold or not self._kernel_ready(model, X, threshold):
            return None
        nk = model.n_features * model.n_outputs
        W, b = theta[:nk].reshape(model.n_features, model.n_outputs), theta[nk:]
        loss, gW, gb = kernels.loss_grad(model.loss, X, y, W, b, sample_weight=sample_weight)
        return model.finish(loss, gW, gb, W, 0.0)

    def _kernel_ready(self, model: Any, X: Array, threshold: int) -> bool:
        """Whether the model's fused kernel on X may run: cached (or loaded), or X large
        enough to repay compiling it (announced)."""
        big = X.shape[0] * X.shape[1] >= COLD_SIZE_FACTOR * threshold
        key = (model.loss, model.n_outputs, X.shape[1], X.flags.c_contiguous, X.dtype.str, big)
        ready = self._ready.get(key)
        if ready is None:
            from gdlab.engines import kernels

            kernel = kernels.compiled_kernel(model.loss, X, model.n_outputs)
            ready = (kernel is None or COMPILE == "always" or big or is_cached(kernel))
            if ready and kernel is not None:
                announce("the fused kernels", (kernel,))
            self._ready[key] = ready
        return ready

    def epoch_runner(self, problem: Any, optimizer: Any, config: Any,
                     step_callbacks: Any = ()) -> Any:
        """A :class:`gdlab.engines.fastepoch.FastEpoch` when it serves the run and repays
        loading (or compiling) it, else None."""
        saving = _max_steps(problem, config) * _step_seconds(problem, config)
        loaded = _epoch_loaded()
        if COMPILE != "always" and not loaded and saving < LOAD_SECONDS:
            return None  # cheaper in Python than importing numba
        from gdlab.engines import fastepoch, mlp_epoch

        runner: Any = fastepoch.plan(problem, optimizer, config, step_callbacks)
        kernels: tuple[Any, ...] = (fastepoch._epoch_nb, fastepoch._epoch_staged)
        if runner is None:
            runner = mlp_epoch.plan(problem, optimizer, config, step_callbacks)
            kernels = (mlp_epoch._epoch_mlp,)
        if runner is None:
            return None
        if COMPILE != "always" and not loaded and saving < COMPILE_SECONDS and not all(
                is_cached(k) for k in kernels):
            return None  # a cold cache: compiling would cost more than the run
        announce("the mini-batch epoch kernels", kernels)
        self.twin("shuffle", load=True)  # the run's shuffles take the compiled loops too
        return runner


def _step_seconds(problem: Any, config: Any) -> float:
    """The Python-loop time a compiled step saves (STEP_SECONDS; for an MLP, by its size)."""
    model, source = getattr(problem, "model", None), getattr(problem, "source", None)
    if not isinstance(model, MLP) or source is None:
        return STEP_SECONDS
    rows = resolve_batch_size(config.batch_size, source.n_samples) or source.n_samples
    work = rows * sum(model.hidden_layer_sizes) + 5 * model.n_params
    return MLP_STEP_SECONDS + MLP_ELEMENT_SECONDS * work


def _max_steps(problem: Any, config: Any) -> int:
    """Upper bound of a run's optimizer steps: epochs x batches per epoch."""
    source = getattr(problem, "source", None)
    if source is None:
        return 0
    bs = resolve_batch_size(config.batch_size, source.n_samples)
    return int(config.epochs) * int(source.n_batches(bs))


def _epoch_loaded() -> bool:
    """True when this process has compiled or loaded a compiled epoch already."""
    for module, kernel in (("gdlab.engines.fastepoch", "_epoch_nb"),
                           ("gdlab.engines.mlp_epoch", "_epoch_mlp")):
        found = getattr(sys.modules.get(module), kernel, None)
        if found is not None and bool(getattr(found, "signatures", None)):
            return True
    return False


ENGINE = CompiledEngine()
