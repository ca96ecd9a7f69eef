"""The single pass for narrow X (n <= 32 features): each group of eight rows in registers.

At n = 10 the C-order pass of :mod:`~gdlab.engines.kernels._linear_nb` was bound by arithmetic
overhead, not memory: numba's loops over n features pay their setup, remainder and
alias checks per row and group, each row's dot product ends in a horizontal sum, and the
eight logits are packed into a vector for the point-wise step and unpacked again (MSE
2.4x, BCE 3.4-4.5x the read bound). Here the whole group step is emitted as LLVM vector IR,
for a fixed number ``nv`` of 8-wide column vectors (a row is ``nv`` vectors, the last one
loaded under a mask):

- the eight rows of a group (row q of each eighth of the chunk, as in ``_linear_nb``) are
  loaded once, ``8 nv`` vectors that stay in registers;
- their eight logits come out of one shuffle tree (7 adds), already as one vector;
- the point-wise step is :class:`~gdlab.engines.kernels._pointwise_nb._Lanes`'s MSE or BCE on that
  vector; the per-row weights multiply it;
- the gradient adds ``sum_u dz_u x_u`` (a tree of eight products) to ``nv`` vector
  accumulators, and the loss and dl/db to two more, all of them kept across the chunk.

The caller finishes the accumulators (:func:`finish_small`). Every order of summation is
fixed by the code, so results are reproducible. float32 X is widened to float64 as it is
loaded (its products and sums are float64: more accurate than the float32 sums of the wide
kernel). Beyond 32 features the registers run out (8 rows x nv vectors): at n = 40 this
step and the wide kernel measured even (BCE 0.96x, MSE 1.29x the time).

Fortran order (:func:`small_columns`) is simpler: a group is eight consecutive rows, so each
column of it is one contiguous vector whose lanes are the rows. The logits are n
multiply-adds (no horizontal sums), the same point-wise step follows, and each column's
gradient lanes accumulate in memory (``acc``; n is a run-time loop here). Beyond 32 columns
the one stream per column costs more than the wide kernel's blocks.

Only imported when numba is present. The kernels that inline these steps live in other
files; their numba cache is stamped with this module too
(:class:`~gdlab.engines.kernels._numba._KernelCacheLocator`), so an edit here recompiles them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from gdlab.engines.kernels._numba import njit
from gdlab.engines.kernels._pointwise_nb import _VF64, _Lanes

__all__ = ["SMALL_N", "finish_columns", "finish_small", "small_columns", "small_groups"]

# widest X (features) the narrow steps take: 4 vectors of 8 per row
_MAX_VECTORS = 4
SMALL_N = 8 * _MAX_VECTORS

_I1 = ir.IntType(1)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _i32s(values: list[int]) -> ir.Constant:
    return ir.Constant(ir.VectorType(_I32, len(values)), values)


def _hsum8(b: ir.IRBuilder, P: list[ir.Value]) -> ir.Value:
    """The vector whose lane u is the sum of the eight lanes of P[u] (a tree of 7 adds).

    Each level adds the even and odd halves of two vectors' partial sums, interleaved.
    """
    def level(vs: list[ir.Value], lo: list[int], hi: list[int]) -> list[ir.Value]:
        return [b.fadd(b.shuffle_vector(vs[2 * i], vs[2 * i + 1], _i32s(lo)),
                       b.shuffle_vector(vs[2 * i], vs[2 * i + 1], _i32s(hi)))
                for i in range(len(vs) // 2)]

    Q = level(P, [0, 8, 2, 10, 4, 12, 6, 14], [1, 9, 3, 11, 5, 13, 7, 15])
    R = level(Q, [0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15])
    return level(R, [0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15])[0]


class _Loop(ABC):
    """Emits the loop over a chunk's groups of eight rows: the parts common to both orders.

    Arguments (numba values, in order): X or X.T, y, s, w, b, lo, then the subclass's own,
    with acc and head last. Sums per lane go to allocas ("slots", promoted to registers) and
    are stored to ``acc`` at the end.
    """

    def __init__(self, context, builder, signature, args):
        self.b = builder
        self.lanes = _Lanes(builder)

        def arr(i):
            return context.make_array(signature.args[i])(context, builder, args[i])

        self.X, self.y, self.s, self.w, self.acc = arr(0), arr(1), arr(2), arr(3), arr(-2)
        self.bias, self.lo, self.head, self.args = args[4], args[5], args[-1], args
        self.xelt = context.get_data_type(signature.args[0].dtype)
        self.bv = self.splat(self.bias, _VF64)

    def splat(self, value, vty):
        one = self.b.insert_element(ir.Constant(vty, ir.Undefined), value, ir.Constant(_I32, 0))
        return self.b.shuffle_vector(one, one, _i32s([0] * 8))

    def load8(self, ptr, elt, mask=None):
        """Eight consecutive elements at ``ptr`` as <8 x double> (under ``mask``: others 0)."""
        b = self.b
        vty = ir.VectorType(elt, 8)
        ptr = b.bitcast(ptr, vty.as_pointer())
        align = 8 if elt == ir.DoubleType() else 4
        if mask is None:
            v = b.load(ptr, align=align)
        else:
            suffix = "v8f64" if elt == ir.DoubleType() else "v8f32"
            fty = ir.FunctionType(vty, [vty.as_pointer(), _I32, ir.VectorType(_I1, 8), vty])
            fn = cgutils.get_or_insert_function(b.module, fty, f"llvm.masked.load.{suffix}.p0")
            v = b.call(fn, [ptr, ir.Constant(_I32, align), mask, ir.Constant(vty, None)])
        return v if elt == ir.DoubleType() else b.fpext(v, _VF64)

    def point(self, head: int, z, yv, sv):
        """(loss, dl/dz) of eight rows: identity + MSE or sigmoid + BCE, times sv if given.

        Emitted as vector IR, the steps of :func:`gdlab.core.pointwise.mse_point` and (through
        :meth:`_Lanes.bce`) :func:`~gdlab.core.pointwise.bce_point`;
        ``tests/test_kernels_linear_nb.py::test_narrow_kernel_every_width`` holds the kernel
        equal to the NumPy reference to 1e-12 relative (float64).
        """
        b, L = self.b, self.lanes
        if head:
            loss, dz = L.bce(z, yv)
        else:
            diff = b.fsub(z, yv)
            loss, dz = b.fmul(diff, diff), b.fmul(L.c(2.0), diff)
        if sv is not None:
            loss, dz = b.fmul(sv, loss), b.fmul(sv, dz)
        return loss, dz

    def emit(self, n_slots: int, offset) -> None:
        """Four loops (MSE / BCE, weighted or not), chosen once per call; the slots go to
        acc[offset + 8k ...] for k < n_slots."""
        b = self.b
        zero = self.lanes.c(0.0)
        # (allocas in the entry block, set to zero here: at each call)
        self.slots = [cgutils.alloca_once_value(b, zero) for _ in range(n_slots)]
        bce = b.icmp_signed("!=", self.head, ir.Constant(self.head.type, 0))
        ns = b.extract_value(self.s.shape, 0)
        weighted = b.icmp_signed(">", ns, ir.Constant(ns.type, 0))
        with b.if_else(bce) as (is_bce, is_mse):
            for branch, head in ((is_bce, 1), (is_mse, 0)):
                with branch, b.if_else(weighted) as (yes, no):
                    with yes:
                        self.loop(head, True)
                    with no:
                        self.loop(head, False)
        for k, slot in enumerate(self.slots):
            at = b.add(offset, ir.Constant(_I64, 8 * k))
            ptr = b.bitcast(b.gep(self.acc.data, [at]), _VF64.as_pointer())
            b.store(b.load(slot), ptr, align=8)

    @abstractmethod
    def loop(self, head: int, weighted: bool) -> None:
        """Emit the loop over the chunk's groups for one head, weighted or not."""

    def add(self, k: int, v: ir.Value) -> None:
        self.b.store(self.b.fadd(self.b.load(self.slots[k]), v), self.slots[k])


class _RowGroups(_Loop):
    """C order, n <= 8 nv: group q = rows lo + q + u d (u < 8), each row nv vectors.

    Extra argument: d, the rows per stream, which is also the number of groups. Slots: the
    nv gradient vectors, dl/db, the loss.
    """

    def __init__(self, context, builder, signature, args, nv: int):
        super().__init__(context, builder, signature, args)
        b = builder
        self.nv = nv
        self.d = self.ng = args[6]
        self.n = b.extract_value(self.X.shape, 1)
        # lanes 8 (nv - 1) + i < n of the last column vector are X's (the rest read as 0)
        last = ir.Constant(ir.VectorType(_I64, 8), [8 * (nv - 1) + i for i in range(8)])
        self.mask = b.icmp_signed("<", last, self.splat(self.n, ir.VectorType(_I64, 8)))
        self.W = [self.row_vector(self.w.data, h, ir.DoubleType()) for h in range(nv)]
        self.emit(nv + 2, ir.Constant(_I64, 0))

    def row_vector(self, row, h, elt):
        """Elements 8h .. 8h + 7 of the row at pointer ``row`` (the last vector masked)."""
        ptr = self.b.gep(row, [ir.Constant(_I64, 8 * h)])
        return self.load8(ptr, elt, self.mask if h == self.nv - 1 else None)

    def gather(self, arr, rows):
        """float64 arr[rows[u]] in lane u."""
        v = ir.Constant(_VF64, ir.Undefined)
        for u, r in enumerate(rows):
            v = self.b.insert_element(v, self.b.load(self.b.gep(arr.data, [r])),
                                      ir.Constant(_I32, u))
        return v

    def loop(self, head: int, weighted: bool) -> None:
        b, L, nv = self.b, self.lanes, self.nv
        with cgutils.for_range(b, self.ng) as it:
            r = b.add(self.lo, it.index)
            rows = [b.add(r, b.mul(self.d, ir.Constant(_I64, u))) for u in range(8)]
            A = []  # A[u][h]: columns 8h .. 8h + 7 of row u
            for u in range(8):
                row = b.gep(self.X.data, [b.mul(rows[u], self.n)])
                A.append([self.row_vector(row, h, self.xelt) for h in range(nv)])
            P = []
            for u in range(8):
                p = b.fmul(A[u][0], self.W[0])
                for h in range(1, nv):
                    p = L.fma(A[u][h], self.W[h], p)
                P.append(p)
            z = b.fadd(_hsum8(b, P), self.bv)
            sv = self.gather(self.s, rows) if weighted else None
            loss, dz = self.point(head, z, self.gather(self.y, rows), sv)
            D = [b.shuffle_vector(dz, dz, _i32s([u] * 8)) for u in range(8)]
            for h in range(nv):
                pairs = [L.fma(D[2 * i + 1], A[2 * i + 1][h], b.fmul(D[2 * i], A[2 * i][h]))
                         for i in range(4)]
                t = b.fadd(b.fadd(pairs[0], pairs[1]), b.fadd(pairs[2], pairs[3]))
                self.add(h, t)
            self.add(nv, dz)
            self.add(nv + 1, loss)


class _ColumnGroups(_Loop):
    """Fortran order (XT = X.T, C-contiguous (n, m)): group q = rows lo + 8q .. lo + 8q + 7.

    Each column of a group is one contiguous vector, its lanes the rows: the logits are n
    multiply-adds (no horizontal sums), and column j's gradient lanes accumulate in
    acc[8j .. 8j + 7] (memory: n is a run-time loop). Extra argument: ng. Slots: dl/db,
    the loss, stored after the n gradient vectors.
    """

    def __init__(self, context, builder, signature, args):
        super().__init__(context, builder, signature, args)
        b = builder
        self.ng = args[6]
        self.n = b.extract_value(self.X.shape, 0)
        self.m = b.extract_value(self.X.shape, 1)
        zero = self.lanes.c(0.0)
        with cgutils.for_range(b, self.n) as jl:
            b.store(zero, self.grad_ptr(jl.index), align=8)
        self.z = cgutils.alloca_once(b, _VF64)
        self.emit(2, b.mul(self.n, ir.Constant(_I64, 8)))

    def grad_ptr(self, j):
        b = self.b
        return b.bitcast(b.gep(self.acc.data, [b.mul(j, ir.Constant(_I64, 8))]),
                         _VF64.as_pointer())

    def column(self, j, r):
        """X[r .. r + 7, j] as <8 x double>."""
        return self.load8(self.b.gep(self.X.data, [self.b.add(self.b.mul(j, self.m), r)]),
                          self.xelt)

    def loop(self, head: int, weighted: bool) -> None:
        b, L = self.b, self.lanes
        with cgutils.for_range(b, self.ng) as it:
            r = b.add(self.lo, b.mul(it.index, ir.Constant(_I64, 8)))
            b.store(self.bv, self.z)
            with cgutils.for_range(b, self.n) as jl:
                wj = self.splat(b.load(b.gep(self.w.data, [jl.index])), _VF64)
                b.store(L.fma(self.column(jl.index, r), wj, b.load(self.z)), self.z)
            sv = self.load8(b.gep(self.s.data, [r]), ir.DoubleType()) if weighted else None
            yv = self.load8(b.gep(self.y.data, [r]), ir.DoubleType())
            loss, dz = self.point(head, b.load(self.z), yv, sv)
            with cgutils.for_range(b, self.n) as jl:
                gp = self.grad_ptr(jl.index)
                b.store(L.fma(dz, self.column(jl.index, r), b.load(gp, align=8)), gp, align=8)
            self.add(0, dz)
            self.add(1, loss)


def _float_matrix(X) -> bool:
    return (isinstance(X, types.Array) and X.ndim == 2
            and X.dtype in (types.float64, types.float32))


@intrinsic
def small_columns(typingctx, XT, y, s, w, b, lo, ng, acc, head):
    """Groups q < ng of eight consecutive rows lo + 8q + u of X, given as XT = X.T (n, m).

    acc (at least 8 n + 16 float64) receives per-lane partial sums: eight for each
    column's gradient, then eight of dl/db and eight of the loss (:func:`finish_columns`).
    y, s (empty: unweighted), w are float64; head 0 is identity + MSE, 1 sigmoid + BCE.
    """
    if not _float_matrix(XT):
        return None
    sig = types.void(XT, y, s, w, b, lo, ng, acc, head)

    def codegen(context, builder, signature, args):
        _ColumnGroups(context, builder, signature, args)
        return context.get_dummy_value()

    return sig, codegen


def _make(nv: int):
    @intrinsic
    def groups(typingctx, X, y, s, w, b, lo, d, acc, head):
        if not _float_matrix(X):
            return None
        sig = types.void(X, y, s, w, b, lo, d, acc, head)

        def codegen(context, builder, signature, args):
            _RowGroups(context, builder, signature, args, nv)
            return context.get_dummy_value()

        return sig, codegen

    return groups


_g1, _g2, _g3, _g4 = (_make(nv) for nv in range(1, _MAX_VECTORS + 1))


@njit(cache=True, inline="always")
def small_groups(X, y, s, w, b, lo, d, acc, head):
    """Groups q < d of a chunk (rows lo + q + u d, u < 8) of C-contiguous X, n <= SMALL_N.

    ``acc`` (at least 8 ceil(n / 8) + 16 float64) receives per-lane partial sums: the
    gradient over w (``acc[:n]``, complete), then eight partials of dl/db and eight of the
    loss (see :func:`finish_small`). y, s (empty: unweighted), w are float64; head 0 is
    identity + MSE, 1 sigmoid + BCE.
    """
    n = X.shape[1]
    if n <= 8:
        _g1(X, y, s, w, b, lo, d, acc, head)
    elif n <= 16:
        _g2(X, y, s, w, b, lo, d, acc, head)
    elif n <= 24:
        _g3(X, y, s, w, b, lo, d, acc, head)
    else:
        _g4(X, y, s, w, b, lo, d, acc, head)


@njit(cache=True, inline="always")
def _lanes8(acc, k):
    """acc[k] + ... + acc[k + 7] as a fixed tree."""
    return ((acc[k] + acc[k + 1]) + (acc[k + 2] + acc[k + 3])) + (
        (acc[k + 4] + acc[k + 5]) + (acc[k + 6] + acc[k + 7]))


@njit(cache=True, inline="always")
def finish_small(acc, n):
    """(dl/db, loss) of :func:`small_groups`'s lanes (its gradient is acc[:n])."""
    k = 8 * ((n + 7) // 8)
    return _lanes8(acc, k), _lanes8(acc, k + 8)


@njit(cache=True, inline="always")
def finish_columns(acc, g):
    """:func:`small_columns`'s lanes: g[j] = column j's gradient; returns (dl/db, loss)."""
    n = g.shape[0]
    for j in range(n):
        g[j] = _lanes8(acc, 8 * j)
    return _lanes8(acc, 8 * n), _lanes8(acc, 8 * n + 8)
