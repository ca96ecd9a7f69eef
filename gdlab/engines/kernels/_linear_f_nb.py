"""The compiled single pass for one output on Fortran-ordered X (identity + MSE, sigmoid + BCE).

For column-major X each column is contiguous, so the pass works on row blocks of one page per
column (:data:`BLOCK_BYTES`: 512 float64 rows): the block's logits are built column by column
(``z += X[blk, j] * w[j]``), turned into dl/dz, and the block's columns are read a second time
for ``g[j] += X[blk, j] . dl/dz`` while they are still in L2 (a block of n = 100 columns is
400 KiB). That second read is pipelined: it runs in the same sweeps as the next block's
logits, so L2 loads and FMAs overlap the wait for memory. X is read from memory once; the work
per entry is two vectorised FMAs. This replaces BLAS's gemv pair on the same blocks, whose
per-call cost dominates skinny X (n = 10: 0.5x the time of blocked NumPy; compare the gdlab
and blocked columns of ``benchmarks/gradient.py --order F``).

Narrow X (n <= 32 features) instead takes eight consecutive rows at a time through
:func:`~gdlab.engines.kernels._linear_small_nb.small_columns` (each column of the eight rows is one
vector: n multiply-adds for the logits, the point-wise step on that vector, n more for the
gradient): at n = 10 0.6-0.67x the time of the blocks, at n = 32 0.74x; at n = 48 1.4x
(slower: one stream per column).

``linear_f_nb(XT, y, w, b, s, head, nchunks)`` takes ``XT = X.T`` (C-contiguous, shape
(n, m)) and returns per-chunk partial sums of shape (nchunks, n + 2): gradient over w, over
b, and the loss. Chunks and blocks depend on the shape only, so the caller's chunk-order sum
is reproducible for any thread count. Only imported when numba is present.
"""

from __future__ import annotations

import numpy as np

from gdlab.engines.kernels._linear_nb import tail_rows
from gdlab.engines.kernels._linear_small_nb import SMALL_N, finish_columns, small_columns
from gdlab.engines.kernels._numba import VEC, njit, prange
from gdlab.engines.kernels._pointwise_nb import pointwise_block

__all__ = ["BLOCK_BYTES", "block_rows", "linear_f_nb"]

# Bytes of one column per block: 4 KiB, one page (512 float64 rows or 1024 float32 rows).
# A block of n = 100 columns is 400 KiB (L2 is 2 MiB per core: two blocks fit) and its logits
# stay in L1. Measured at 1M x 100: float64 with 512 rows faster than 256 or 1024 (1.07x and
# 1.08-1.19x the time), float32 with 1024 rows 0.955x the time of 512 (2048: 1.14x of 1024).
BLOCK_BYTES = 4096


@njit(cache=True)
def block_rows(itemsize: int) -> int:
    """Rows per block for X of this itemsize (bytes per entry); callable from the kernel."""
    return BLOCK_BYTES // itemsize


@njit(cache=True, inline="always")
def _cols8(XT, j, start, stop):
    """Rows start..stop of columns j .. j + 7 of X (XT = X.T), as eight 1-D views."""
    return (XT[j, start:stop], XT[j + 1, start:stop], XT[j + 2, start:stop],
            XT[j + 3, start:stop], XT[j + 4, start:stop], XT[j + 5, start:stop],
            XT[j + 6, start:stop], XT[j + 7, start:stop])


@njit(cache=True, inline="always")
def _w8(wx, j):
    """wx[j .. j + 7] as eight scalars."""
    return wx[j], wx[j + 1], wx[j + 2], wx[j + 3], wx[j + 4], wx[j + 5], wx[j + 6], wx[j + 7]


@njit(cache=True, fastmath=VEC, inline="always")
def _logits_from(XT, wx, start, stop, zb, j):
    """``zb += XT[j:, start:stop].T @ wx[j:]``: sixteen columns per sweep of the block (sixteen
    streams from memory; paired against four per sweep: 0.95-0.99x the time at n = 100), then
    four, then one; zb stays in L1."""
    n = XT.shape[0]
    B = stop - start
    while j + 16 <= n:
        c0, c1, c2, c3, c4, c5, c6, c7 = _cols8(XT, j, start, stop)
        c8, c9, c10, c11, c12, c13, c14, c15 = _cols8(XT, j + 8, start, stop)
        w0, w1, w2, w3, w4, w5, w6, w7 = _w8(wx, j)
        w8, w9, w10, w11, w12, w13, w14, w15 = _w8(wx, j + 8)
        for i in range(B):
            zb[i] += (((c0[i] * w0 + c1[i] * w1) + (c2[i] * w2 + c3[i] * w3))
                      + ((c4[i] * w4 + c5[i] * w5) + (c6[i] * w6 + c7[i] * w7))) + (
                ((c8[i] * w8 + c9[i] * w9) + (c10[i] * w10 + c11[i] * w11))
                + ((c12[i] * w12 + c13[i] * w13) + (c14[i] * w14 + c15[i] * w15)))
        j += 16
    while j + 4 <= n:
        c0 = XT[j, start:stop]
        c1 = XT[j + 1, start:stop]
        c2 = XT[j + 2, start:stop]
        c3 = XT[j + 3, start:stop]
        w0 = wx[j]
        w1 = wx[j + 1]
        w2 = wx[j + 2]
        w3 = wx[j + 3]
        for i in range(B):
            zb[i] += (c0[i] * w0 + c1[i] * w1) + (c2[i] * w2 + c3[i] * w3)
        j += 4
    while j < n:
        c0 = XT[j, start:stop]
        w0 = wx[j]
        for i in range(B):
            zb[i] += c0[i] * w0
        j += 1


@njit(cache=True, fastmath=VEC, inline="always")
def _grad_from(XT, rb, start, stop, g, j, zero):
    """``g[j:] += XT[j:, start:stop] @ rb``: four columns per sweep, then one; each column's
    block sum in X's dtype (``zero``), added to the float64 g."""
    n = XT.shape[0]
    B = stop - start
    while j + 4 <= n:
        c0 = XT[j, start:stop]
        c1 = XT[j + 1, start:stop]
        c2 = XT[j + 2, start:stop]
        c3 = XT[j + 3, start:stop]
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        for i in range(B):
            r = rb[i]
            a0 += c0[i] * r
            a1 += c1[i] * r
            a2 += c2[i] * r
            a3 += c3[i] * r
        g[j] += a0
        g[j + 1] += a1
        g[j + 2] += a2
        g[j + 3] += a3
        j += 4
    while j < n:
        c0 = XT[j, start:stop]
        a0 = zero
        for i in range(B):
            a0 += c0[i] * rb[i]
        g[j] += a0
        j += 1


@njit(cache=True, fastmath=VEC, inline="always")
def _logits_and_previous_grad(XT, wx, start, zb, prev, rb, g, zero):
    """One sweep per eight columns: ``zb += XT[j:j+8, start:start+B].T @ wx[j:j+8]`` from
    memory and ``g[j:j+8] += XT[j:j+8, prev:prev+B] @ rb`` for the previous block (same B
    rows) from L2. Returns the first column not swept (n rounded down to eight).

    Done one after the other, the previous block's gradient ran from L2 with no memory
    stream in flight; in one loop its loads and FMAs fill the time spent waiting for the
    new block (paired at 1M x 100: 0.91-0.94x the time of the two passes). Eight columns
    of each: sixteen (32 streams, 16 accumulators) measured 1.11-1.13x the time; four, six,
    ten or twelve 0.96-1.04x (noise level).

    The loop sums while it stores zb; if LLVM guards its vector body with a run-time overlap
    check, the check passes for any addresses here: paired blocks are full (>= 512 rows), and
    zb, rb and X are separate allocations at least a block apart (tested: repeated calls
    agree bit for bit).
    """
    n = XT.shape[0]
    B = zb.shape[0]
    stop = start + B
    pstop = prev + B
    j = 0
    while j + 8 <= n:
        c0, c1, c2, c3, c4, c5, c6, c7 = _cols8(XT, j, start, stop)
        p0, p1, p2, p3, p4, p5, p6, p7 = _cols8(XT, j, prev, pstop)
        w0, w1, w2, w3, w4, w5, w6, w7 = _w8(wx, j)
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        a4 = zero
        a5 = zero
        a6 = zero
        a7 = zero
        for i in range(B):
            zb[i] += ((c0[i] * w0 + c1[i] * w1) + (c2[i] * w2 + c3[i] * w3)) + (
                (c4[i] * w4 + c5[i] * w5) + (c6[i] * w6 + c7[i] * w7))
            r = rb[i]
            a0 += p0[i] * r
            a1 += p1[i] * r
            a2 += p2[i] * r
            a3 += p3[i] * r
            a4 += p4[i] * r
            a5 += p5[i] * r
            a6 += p6[i] * r
            a7 += p7[i] * r
        g[j] += a0
        g[j + 1] += a1
        g[j + 2] += a2
        g[j + 3] += a3
        g[j + 4] += a4
        g[j + 5] += a5
        g[j + 6] += a6
        g[j + 7] += a7
        j += 8
    return j


def _linear_f_wide(XT, y, w, b, s, head, nchunks):
    n, m = XT.shape
    P = np.zeros((nchunks, n + 2))
    # float32 X: each sixteen-column product sum of a row, and each column's sum over a
    # block's rows, in float32 (no widening per element: half the vector work); the logits
    # and everything across blocks in float64, as the C-order kernel does
    wx = w.astype(XT.dtype)
    rows = block_rows(XT.itemsize)
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        zero = np.zeros(1, dtype=XT.dtype)[0]
        rb = np.empty(rows, dtype=XT.dtype)  # the previous block's dl/dz in X's dtype
        z = np.empty(rows)
        db = np.empty(rows)
        lb = np.empty(rows)
        g = np.zeros(n)
        gb = 0.0
        total = 0.0
        prev = lo
        pB = 0  # rows of the previous block, whose gradient is still to add (0: none)
        for start in range(lo, hi, rows):
            stop = min(start + rows, hi)
            B = stop - start
            zb = z[:B]
            for i in range(B):
                zb[i] = b
            # Software pipeline over blocks: this block's logits (X from memory) in the same
            # sweeps as the previous block's gradient (X from L2), then the columns left over
            # (all of them when the blocks differ in rows: a chunk's last block is shorter).
            # Block sizes depend on the shape only, so which blocks pair up (and the sums'
            # order) does too.
            j = 0
            if pB == B:
                j = _logits_and_previous_grad(XT, wx, start, zb, prev, rb, g, zero)
            if pB > 0:
                _grad_from(XT, rb, prev, prev + pB, g, j, zero)
            _logits_from(XT, wx, start, stop, zb, j)
            # point-wise loss and dl/dz of the block: one vectorised loop (exp and log1p
            # written for SIMD in _pointwise_nb), summed in row order
            pointwise_block(head, zb, y, s, start, B, db, lb)
            for i in range(B):
                rb[i] = db[i]
            # The sums in a loop that only reads: a loop that also stores is versioned at run
            # time on the buffers' addresses (vector body or scalar fallback), and the two
            # would sum in different orders, so results could differ between calls.
            for i in range(B):
                total += lb[i]
                gb += db[i]
            prev = start
            pB = B
        if pB > 0:
            _grad_from(XT, rb, prev, prev + pB, g, 0, zero)
        P[c, :n] = g
        P[c, n] = gb
        P[c, n + 1] = total
    return P


_wide_nb = njit(parallel=True, cache=True, fastmath=VEC)(_linear_f_wide)


def _linear_f_narrow(XT, y, w, b, s, head, nchunks):
    """:func:`linear_f_nb` for n <= SMALL_N: eight rows at a time, all columns in turn."""
    n, m = XT.shape
    P = np.zeros((nchunks, n + 2))
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        ng = (hi - lo) // 8
        acc = np.empty(8 * n + 16)
        small_columns(XT, y, s, w, b, lo, ng, acc, head)  # type: ignore[call-arg]  # numba's @intrinsic stub keeps typingctx as the first parameter
        g = np.empty(n)
        gb, total = finish_columns(acc, g)
        gb, total = tail_rows(XT.T, y, w, b, s, head, lo + 8 * ng, hi, g, gb, total)
        P[c, :n] = g
        P[c, n] = gb
        P[c, n + 1] = total
    return P


_narrow_nb = njit(parallel=True, cache=True, fastmath=VEC)(_linear_f_narrow)


def linear_f_nb(XT, y, w, b, s, head, nchunks):
    """Per-chunk partial sums (nchunks, n + 2) of XT = X.T: the narrow or the block kernel."""
    kernel = _narrow_nb if XT.shape[0] <= SMALL_N else _wide_nb
    return kernel(XT, y, w, b, s, head, nchunks)
