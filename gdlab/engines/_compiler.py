"""numba, found without importing it, loaded on first need, and what loading it costs.

- :func:`numba_available`: whether numba is installed (``importlib.util.find_spec``; an import
  block ``sys.modules["numba"] = None`` counts as absent, and so does numba in a process whose
  environment has ``GDLAB_NO_NUMBA=1``: the test suite's second run, subprocesses included).
  Importing numba takes ~0.2-0.4 s, so nothing here or in the engine's decisions imports it
  before a compiled kernel will run.
- :func:`compile_plain`: ``numba.njit`` of a plain Python function of :mod:`gdlab.core`, with
  some of its global names rebound (``prange`` to ``numba.prange``, a callee to its compiled
  twin): the formula is written once, runs as-is in Python, and is compiled from that source.
- :func:`is_cached` / :func:`announce`: whether numba's on-disk cache holds a compiled
  kernel; a kernel that must be compiled (a fresh install, or its sources changed) is reported
  once per process as an INFO record of the ``gdlab`` logger, which the command line prints.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = ["announce", "compile_plain", "is_cached", "numba_available"]

log = logging.getLogger("gdlab")

_ANNOUNCED: set[str] = set()


@functools.cache
def numba_available() -> bool:
    """True when numba can be imported here (found, not imported; asked once per process:
    ``find_spec`` searches sys.path, ~0.1 ms, and the loop asks every epoch)."""
    if os.environ.get("GDLAB_NO_NUMBA", "") not in ("", "0"):
        return False
    if "numba" in sys.modules:
        return sys.modules["numba"] is not None
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):
        return False


def compile_plain(fn: Callable[..., Any], *, rebind: dict[str, Any] | None = None,
                  **options: Any) -> Any:
    """``numba.njit(**options)`` of ``fn`` with the global names in ``rebind`` replaced.

    ``fn`` keeps its own module, name and source lines, so numba's cache sits beside that
    module (as for any ``njit(cache=True)`` function) and is stamped with its source.
    """
    import numba

    import gdlab.engines.kernels._numba  # noqa: F401  (stamps gdlab's cached kernels)

    glob = dict(fn.__globals__)
    glob.update(rebind or {})
    twin = types.FunctionType(fn.__code__, glob, fn.__name__, fn.__defaults__, fn.__closure__)
    twin.__qualname__, twin.__module__, twin.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
    return numba.njit(**options)(twin)


def is_cached(dispatcher: Any) -> bool:
    """True when numba's cache holds a current compiled version of ``dispatcher``
    (or it is compiled in this process already)."""
    if getattr(dispatcher, "signatures", None):
        return True
    try:
        return bool(dispatcher._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 - numba internals differ between versions: assume cached
        return True


def cache_path(dispatcher: Any) -> str:
    """The directory of ``dispatcher``'s cache files ('?' when numba does not say)."""
    try:
        return str(dispatcher._cache.cache_path)
    except AttributeError:
        return "?"


def announce(what: str, dispatchers: tuple[Any, ...]) -> None:
    """Log, once per ``what`` and process, that ``dispatchers`` are about to be compiled.

    Called right before a compiled kernel's first call; silent when every dispatcher is cached.
    """
    if what in _ANNOUNCED:
        return
    cold = [d for d in dispatchers if not is_cached(d)]
    if cold:
        _ANNOUNCED.add(what)
        log.info("compiling %s (once; cached in %s)", what, cache_path(cold[0]))
