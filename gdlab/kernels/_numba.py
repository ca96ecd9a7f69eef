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

__all__ = ["HAVE_NUMBA", "VEC", "f64_from_bits", "get_num_threads", "njit", "prange", "prefetch",
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

    @intrinsic
    def prefetch(typingctx, X, k):  # type: ignore[no-untyped-def]
        """Hint the CPU to fetch the cache line of element ``k`` of C-contiguous ``X`` (flat).

        ``llvm.prefetch`` (read, high locality: into L1): never faults, so ``k`` may point
        past the end of X. One core streaming X alone keeps too few lines in flight to reach
        the memory bandwidth while it also computes; the staged epochs prefetch rows ahead.
        """
        sig = types.void(X, k)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
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
