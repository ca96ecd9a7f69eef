"""Engines: optional accelerators that the loop asks, chosen from a registry.

The plain NumPy path (the models' own ``loss_and_grad`` and the loop's Python steps) is the
reference engine and always runs when no accelerator serves a case. An accelerator is an
object with:

- ``available() -> bool``: whether it can run here, answered without importing anything heavy
  (the compiled engine asks whether numba is installed, it does not import it);
- ``loss_and_grad(model, theta, X, y, sample_weight) -> (loss, grad) | None``: the data term
  (mean, no penalty) of a batch, or None when it does not serve this model, loss or size;
- ``epoch_runner(problem, optimizer, config, step_callbacks) -> runner | None``: an object
  whose ``run_epoch(state, lr)`` runs whole epochs, or None.

Engines are registered by name with the module that holds them, and imported on first use
(``"compiled"`` lives in :mod:`gdlab.engines.compiled`), so importing the core never imports
an engine. ``engine="auto"`` takes the first registered engine that is available.

Some loops of the core are written once as plain Python functions that also compile (the
epoch shuffle, :mod:`gdlab.core.shuffle`). An engine may offer their compiled twins through
``twin(name, load, size) -> object | None``; the core asks :func:`accelerated` and runs its plain
functions when no engine answers, with the same results.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from numpy.typing import NDArray

Array = NDArray[Any]

__all__ = ["ENGINES", "Engine", "accelerated", "get_engine", "register_engine"]


class Engine(Protocol):
    """An accelerator (see the module docstring)."""

    name: str

    def available(self) -> bool: ...

    def loss_and_grad(self, model: Any, theta: Array, X: Array, y: Array,
                      sample_weight: Array | None) -> tuple[float, Array] | None: ...

    def epoch_runner(self, problem: Any, optimizer: Any, config: Any,
                     step_callbacks: Any = ()) -> Any: ...


#: name -> "module:attribute" (imported on first use) or an engine object
ENGINES: dict[str, Any] = {"compiled": "gdlab.engines.compiled:ENGINE"}
ENGINE_NAMES = ("auto", "numpy", *ENGINES)


def register_engine(name: str, engine: Any) -> None:
    """Register an engine object (or a ``"module:attribute"`` string) under ``name``."""
    ENGINES[name] = engine


def _load(name: str) -> Any:
    entry = ENGINES[name]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        ENGINES[name] = entry
    return entry


def get_engine(spec: Any = "auto") -> Any:
    """The engine for ``spec``: None for the reference NumPy path.

    ``"auto"``: the first registered engine that is available (None if none is);
    ``"numpy"`` or None: the reference path; a registered name: that engine, or ValueError
    when it cannot run here; an object with ``loss_and_grad``: returned unchanged.
    """
    if spec is None or spec == "numpy":
        return None
    if isinstance(spec, str):
        if spec == "auto":
            for name in ENGINES:
                engine = _load(name)
                if engine.available():
                    return engine
            return None
        if spec not in ENGINES:
            raise ValueError(f"Unknown engine {spec[:80]!r}; expected one of "
                             f"{sorted(set(ENGINE_NAMES) | set(ENGINES))}.")
        engine = _load(spec)
        if not engine.available():
            raise ValueError(f"The {spec!r} engine cannot run here: {engine.why_unavailable()}")
        return engine
    if callable(getattr(spec, "loss_and_grad", None)):
        return spec
    raise ValueError(f"The 'engine' must be 'auto', 'numpy', a registered engine name or an "
                     f"engine object. Got {spec!r:.80} instead.")



def accelerated(name: str, *, load: bool = True, size: int | None = None) -> Any:
    """The compiled twin of the core's plain loops ``name`` (e.g. ``"shuffle"``), or None.

    Asks each registered engine that is available. ``load=False`` answers only from what this
    process has already loaded: no engine module, compiler or compiled code is imported.
    ``size`` (e.g. the rows to shuffle) lets an engine decline to compile for small work.
    """
    for key in list(ENGINES):
        if not load and isinstance(ENGINES[key], str):
            continue  # never imported: nothing of it is loaded
        engine = _load(key)
        twin = getattr(engine, "twin", None)
        if twin is not None and engine.available():
            found = twin(name, load, size)
            if found is not None:
                return found
    return None
