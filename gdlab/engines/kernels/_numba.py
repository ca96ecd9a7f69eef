"""numba, when present: the compiler the single-pass kernels are built with."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

try:  # numba is the `fast` extra; without it the kernels take the blocked NumPy path
    from numba import (
        get_num_threads,
        njit,
        prange,
        set_num_threads,
        set_parallel_chunksize,
    )

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    HAVE_NUMBA = False

__all__ = ["COMPILED_SOURCES", "HAVE_NUMBA", "VEC", "f64_from_bits", "get_num_threads", "njit",
           "prange", "prefetch", "set_num_threads", "set_parallel_chunksize", "sources_stamp"]

# The loops over features carry fastmath 'reassoc' + 'contract' only: they let LLVM
# vectorise the dot-product reductions and fuse multiply-adds (3-4x faster than strict
# sequential sums). The order LLVM picks is fixed at compile time, so results stay
# deterministic; no finite-math flags, so NaN/inf keep IEEE semantics. Point-wise functions
# are compiled strictly (no fast-math) and inlined by LLVM.
VEC = {"reassoc", "contract"}

# gdlab's modules that hold compiled code, relative to the package: a cached kernel is
# stamped with all of them (see _KernelCacheLocator)
COMPILED_SOURCES = (
    "teach/_bench.py", "engines/fastepoch.py", "core/shuffle.py",
    "core/pointwise.py", "core/optim/rules.py", "core/models/glm.py",
    "core/activations.py", "core/models/mlp.py", "engines/mlp_epoch.py",
    "engines/kernels/_formulas_nb.py",
    "engines/_compiler.py", "engines/compiled.py",  # compile core/shuffle.py's plain loops
    "engines/kernels/_linear_f_nb.py", "engines/kernels/_linear_nb.py",
    "engines/kernels/_linear_small_nb.py", "engines/kernels/_numba.py",
    "engines/kernels/_pointwise_nb.py", "engines/kernels/_softmax_nb.py",
)
_PACKAGE = Path(__file__).resolve().parents[2]


@functools.cache
def _file_digest(path: str, mtime: float, size: int) -> bytes:
    """sha256 of a file's bytes, memoised on its (path, mtime, size)."""
    return hashlib.sha256(Path(path).read_bytes()).digest()


def sources_stamp(paths: tuple[Path, ...] | None = None) -> bytes:
    """One digest of gdlab's compiled sources (``COMPILED_SOURCES``, or ``paths``)."""
    h = hashlib.sha256()
    for path in paths if paths is not None else tuple(_PACKAGE / f for f in COMPILED_SOURCES):
        try:
            st = path.stat()
        except OSError:  # a module missing from this install: its absence is the stamp
            h.update(b"-")
            continue
        h.update(_file_digest(str(path), st.st_mtime, st.st_size))
    return h.digest()


class _KernelCacheLocator:
    """numba's cache locator for gdlab's functions, stamped with all of gdlab's compiled code.

    numba stamps a cached function with its own source file only, but the kernels inline
    code from sibling modules (the point-wise steps of ``_pointwise_nb``, the narrow group
    steps of ``_linear_small_nb``, the intrinsics here). After an edit of one of those, e.g.
    a ``git pull`` into an editable install that leaves ``_linear_nb.py`` untouched, the
    cached kernel would still hold the old code. This wraps the locator numba would have
    chosen (same directory, same names) and adds :func:`sources_stamp` to its stamp, so any
    change to a compiled module recompiles every gdlab kernel once. Functions outside gdlab
    are not touched (``from_function`` returns None for them).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._py_file = inner._py_file

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> _KernelCacheLocator | None:
        try:
            inside = Path(py_file).resolve().is_relative_to(_PACKAGE)
        except OSError:
            return None
        if not inside:
            return None
        from numba.core.caching import CacheImpl

        others: list[Any] = list(CacheImpl._locator_classes)
        for other in others:
            if other is not cls:
                inner = other.from_function(py_func, py_file)
                if inner is not None:
                    return cls(inner)
        return None

    def ensure_cache_path(self) -> None:
        self.inner.ensure_cache_path()

    def get_cache_path(self) -> str:
        return str(self.inner.get_cache_path())

    def get_disambiguator(self) -> str:
        return str(self.inner.get_disambiguator())

    def get_source_stamp(self) -> Any:
        return (self.inner.get_source_stamp(), sources_stamp())


if HAVE_NUMBA:
    try:  # numba's list of locators (numba >= 0.61 calls it CacheImpl); else numba's own stamps
        from numba.core.caching import CacheImpl

        _locators: list[Any] = CacheImpl._locator_classes
        if _KernelCacheLocator not in _locators:
            _locators.insert(0, _KernelCacheLocator)
    except (ImportError, AttributeError):  # pragma: no cover - other numba versions
        pass

if HAVE_NUMBA:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def f64_from_bits(typingctx, bits):
        """Reinterpret an int64 as the float64 with the same bits (LLVM bitcast: vectorises).

        The vectorised exps build 2^k as ``f64_from_bits((k + 1023) << 52)``.
        """
        sig = types.float64(types.int64)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return sig, codegen

    @intrinsic
    def prefetch(typingctx, X, k):
        """Hint the CPU to fetch the cache line of element ``k`` of C-contiguous ``X`` (flat).

        ``llvm.prefetch`` (read, high locality: into L1): never faults, so ``k`` may point
        past the end of X. One core streaming X alone keeps too few lines in flight to reach
        the memory bandwidth while it also computes; the staged epochs prefetch rows ahead.
        """
        sig = types.void(X, k)

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            i8p = ir.IntType(8).as_pointer()
            ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
            # read, high locality, data cache
            builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return sig, codegen
