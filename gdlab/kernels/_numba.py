"""numba, when present: the compiler the single-pass kernels are built with."""

from __future__ import annotations

try:  # numba is a declared dependency, but the kernels degrade to blocked NumPy without it
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

__all__ = ["HAVE_NUMBA", "VEC", "f64_from_bits", "get_num_threads", "njit", "prange",
           "set_num_threads", "set_parallel_chunksize"]

# The loops over features carry fastmath 'reassoc' + 'contract' only: they let LLVM
# vectorise the dot-product reductions and fuse multiply-adds (3-4x faster than strict
# sequential sums). The order LLVM picks is fixed at compile time, so results stay
# deterministic; no finite-math flags, so NaN/inf keep IEEE semantics. Point-wise functions
# are compiled strictly (no fast-math) and inlined by LLVM.
VEC = {"reassoc", "contract"}


if HAVE_NUMBA:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def f64_from_bits(typingctx, bits):  # type: ignore[no-untyped-def]
        """Reinterpret an int64 as the float64 with the same bits (LLVM bitcast: vectorises).

        The vectorised exps build 2^k as ``f64_from_bits((k + 1023) << 52)``.
        """
        sig = types.float64(types.int64)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.bitcast(args[0], ir.DoubleType())

        return sig, codegen
