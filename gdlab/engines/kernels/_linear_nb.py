"""The compiled single pass for one output: identity + MSE and sigmoid + BCE.

``linear_c_nb(X, y, w, b, s, head, nchunks)`` returns per-chunk partial sums, shape
(nchunks, n + 2): gradient over w, gradient over b, loss; the caller adds the rows in chunk
order (reproducible). Only imported when numba is present.

Each chunk is walked in groups of eight rows (each load of w serves eight rows), group q
being row q of each eighth of the chunk: the chunk is read as eight interleaved streams. One
core reading one stream keeps too few cache lines in flight; with eight, the hardware
prefetchers keep ~1.5x as many (a 2-thread read of X runs 1.5-1.6x faster: the
``gdlab/1-stream read`` column of benchmarks/gradient.py; these kernels took 0.66-0.88x the
time of a consecutive-row pass).
Each group is finished while its rows are in L1: its eight logits, their point-wise loss
and dl/dz in registers (:func:`~gdlab.engines.kernels._pointwise_nb.point8`; for BCE one 8-lane
vector chain), and its gradient, so no second pass over a block is needed for the gradient
(such a pass does not overlap the memory streams: ~0.25x the read bound at n = 100).

Narrow X (n <= 32 features) takes the same groups through
:func:`~gdlab.engines.kernels._linear_small_nb.small_groups`, whose group step is emitted as vector
IR with the rows in registers (at n = 10: 0.4-0.63x the time of the loops below).
"""

from __future__ import annotations

import numpy as np

from gdlab.engines.kernels._linear_small_nb import SMALL_N, finish_small, small_groups
from gdlab.engines.kernels._numba import VEC, njit, prange
from gdlab.engines.kernels._pointwise_nb import point8, pointwise_one, weigh8

__all__ = ["linear_c_nb", "tail_rows"]

@njit(cache=True, inline="always")
def _rows8(X, r, P):
    """Rows r, r + P, ..., r + 7P of X as 1-D views (one row of each of eight streams)."""
    return (X[r], X[r + P], X[r + 2 * P], X[r + 3 * P], X[r + 4 * P], X[r + 5 * P],
            X[r + 6 * P], X[r + 7 * P])


@njit(cache=True, fastmath=VEC, inline="always")
def _dot8(X, r, P, wx):
    """Dot products of rows r, r + P, ..., r + 7P of X with wx, summed in X's dtype (n >= 1).

    Eight rows at a time: each load of w serves eight rows (measured 1.15x the read bound,
    1.25x with four rows). Rows as 1-D views: j from range() is known >= 0, so the loop
    vectorises without a negative-index test per element.
    """
    x0, x1, x2, x3, x4, x5, x6, x7 = _rows8(X, r, P)
    wj = wx[0]
    z0 = x0[0] * wj
    z1 = x1[0] * wj
    z2 = x2[0] * wj
    z3 = x3[0] * wj
    z4 = x4[0] * wj
    z5 = x5[0] * wj
    z6 = x6[0] * wj
    z7 = x7[0] * wj
    for j in range(1, X.shape[1]):
        wj = wx[j]
        z0 += x0[j] * wj
        z1 += x1[j] * wj
        z2 += x2[j] * wj
        z3 += x3[j] * wj
        z4 += x4[j] * wj
        z5 += x5[j] * wj
        z6 += x6[j] * wj
        z7 += x7[j] * wj
    return z0, z1, z2, z3, z4, z5, z6, z7


@njit(cache=True, fastmath=VEC, inline="always")
def _grad8(g, X, r, P, dx, k):
    """g += sum over u < 8 of dx[k + u] * X[r + u P], the eight terms in X's dtype."""
    x0, x1, x2, x3, x4, x5, x6, x7 = _rows8(X, r, P)
    d0 = dx[k]
    d1 = dx[k + 1]
    d2 = dx[k + 2]
    d3 = dx[k + 3]
    d4 = dx[k + 4]
    d5 = dx[k + 5]
    d6 = dx[k + 6]
    d7 = dx[k + 7]
    for j in range(X.shape[1]):
        g[j] += ((d0 * x0[j] + d1 * x1[j]) + (d2 * x2[j] + d3 * x3[j])) + (
            (d4 * x4[j] + d5 * x5[j]) + (d6 * x6[j] + d7 * x7[j])
        )


@njit(cache=True, fastmath=VEC, inline="always")
def tail_rows(X, y, w, b, s, head, lo, hi, g, gb, total):
    """Rows lo..hi (the last < 8 of a chunk) one at a time: adds to g, returns (gb, total).

    Any layout of X (the Fortran-order kernels pass ``XT.T``).
    """
    n = X.shape[1]
    for i in range(lo, hi):
        z = 0.0
        for j in range(n):
            z += X[i, j] * w[j]
        li, dl = pointwise_one(head, z + b, y[i])
        if s.size > 0:
            li *= s[i]
            dl *= s[i]
        total += li
        gb += dl
        for j in range(n):
            g[j] += dl * X[i, j]
    return gb, total


def _linear_c_wide(X, y, w, b, s, head, nchunks):
    m, n = X.shape
    P = np.zeros((nchunks, n + 2))  # per chunk: grad_w, grad_b, loss
    weighted = s.size > 0
    # float32 X: the products and the sums of one row (dot) or of eight rows (gradient) in
    # float32, eight lanes per vector and no widening per element; float64 across rows
    wx = w.astype(X.dtype)
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        # group q: rows r, r + d, ..., r + 7d with r = lo + q (eight streams through the chunk)
        n_groups = d = (hi - lo) // 8
        g = np.zeros(n)
        dx = np.empty(8, dtype=X.dtype)
        gb = 0.0
        total = 0.0
        for q in range(n_groups):
            r = lo + q
            z0, z1, z2, z3, z4, z5, z6, z7 = _dot8(X, r, d, wx)
            o = point8(head, (z0 + b, z1 + b, z2 + b, z3 + b, z4 + b, z5 + b, z6 + b, z7 + b),
                       (y[r], y[r + d], y[r + 2 * d], y[r + 3 * d], y[r + 4 * d],
                        y[r + 5 * d], y[r + 6 * d], y[r + 7 * d]))
            if weighted:
                o = weigh8(o, (s[r], s[r + d], s[r + 2 * d], s[r + 3 * d], s[r + 4 * d],
                               s[r + 5 * d], s[r + 6 * d], s[r + 7 * d]))
            l0, l1, l2, l3, l4, l5, l6, l7 = o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]
            v0, v1, v2, v3, v4, v5, v6, v7 = o[8], o[9], o[10], o[11], o[12], o[13], o[14], o[15]
            # eight rows as a tree, then the running sum: one fixed order
            total += ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
            gb += ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))
            dx[0] = v0  # in X's dtype
            dx[1] = v1
            dx[2] = v2
            dx[3] = v3
            dx[4] = v4
            dx[5] = v5
            dx[6] = v6
            dx[7] = v7
            _grad8(g, X, r, d, dx, 0)
        gb, total = tail_rows(X, y, w, b, s, head, lo + 8 * n_groups, hi, g, gb, total)
        P[c, :n] = g
        P[c, n] = gb
        P[c, n + 1] = total
    return P


_wide_nb = njit(parallel=True, cache=True, fastmath=VEC)(_linear_c_wide)


def _linear_c_narrow(X, y, w, b, s, head, nchunks):
    """:func:`linear_c_nb` for n <= SMALL_N: the group step of _linear_small_nb."""
    m, n = X.shape
    P = np.zeros((nchunks, n + 2))
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        d = (hi - lo) // 8  # groups of eight streams, as in the wide kernel
        acc = np.empty(8 * ((n + 7) // 8) + 16)
        small_groups(X, y, s, w, b, lo, d, acc, head)
        g = acc[:n].copy()
        gb, total = finish_small(acc, n)
        gb, total = tail_rows(X, y, w, b, s, head, lo + 8 * d, hi, g, gb, total)
        P[c, :n] = g
        P[c, n] = gb
        P[c, n + 1] = total
    return P


_narrow_nb = njit(parallel=True, cache=True, fastmath=VEC)(_linear_c_narrow)


def linear_c_nb(X, y, w, b, s, head, nchunks):
    """Per-chunk partial sums (nchunks, n + 2) of C-contiguous X: the narrow or wide kernel."""
    kernel = _narrow_nb if X.shape[1] <= SMALL_N else _wide_nb
    return kernel(X, y, w, b, s, head, nchunks)
