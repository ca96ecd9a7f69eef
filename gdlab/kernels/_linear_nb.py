"""The compiled single pass for one output: identity + MSE and sigmoid + BCE.

``linear_c_nb(X, y, w, b, s, head, nchunks)`` returns per-chunk partial sums, shape
(nchunks, n + 2): gradient over w, gradient over b, loss; the caller adds the rows in chunk
order (reproducible). Only imported when numba is present.
"""

from __future__ import annotations

import numpy as np

from gdlab.kernels._numba import VEC, njit, prange

__all__ = ["linear_c_nb"]


@njit(cache=True)


def _log1p_small(e):  # type: ignore[no-untyped-def]
    """log1p(e) for e >= 0: one log and one division (libm log1p costs 2x more).

    Goldberg's trick: with u = fl(1 + e), log(u) * e / (u - 1) is accurate to a few ulp.
    """
    u = 1.0 + e
    if u == 1.0:
        return e
    return np.log(u) * (e / (u - 1.0))


@njit(cache=True)


def _pointwise_nb(head, z, yi):  # type: ignore[no-untyped-def]
    """Per-sample loss and dl/dz: identity + MSE (head 0) or sigmoid + BCE (head 1)."""
    if head == 0:
        d = z - yi
        return d * d, 2.0 * d
    # logaddexp(0, z) - y z = max(z, 0) + log1p(exp(-|z|)) - y z: finite for |z| ~ 1000
    e = np.exp(-abs(z))
    q = 1.0 / (1.0 + e)
    if z >= 0.0:
        return z + _log1p_small(e) - yi * z, q - yi
    return _log1p_small(e) - yi * z, e * q - yi


@njit(cache=True)


def _bce_quad(z0, z1, z2, z3, y0, y1, y2, y3):  # type: ignore[no-untyped-def]
    """Summed BCE of four rows and their dl/dz, with one log instead of four.

    sum_r log1p(e_r) = log1p(E) with 1 + E = prod_r (1 + e_r); E is formed as
    E <- E + e + E e (no cancellation, all terms >= 0), so the sum keeps full relative
    accuracy even when every e_r is tiny (all rows well classified).
    """
    e0 = np.exp(-abs(z0))
    e1 = np.exp(-abs(z1))
    e2 = np.exp(-abs(z2))
    e3 = np.exp(-abs(z3))
    q0 = 1.0 / (1.0 + e0)
    q1 = 1.0 / (1.0 + e1)
    q2 = 1.0 / (1.0 + e2)
    q3 = 1.0 / (1.0 + e3)
    d0 = (q0 if z0 >= 0.0 else e0 * q0) - y0
    d1 = (q1 if z1 >= 0.0 else e1 * q1) - y1
    d2 = (q2 if z2 >= 0.0 else e2 * q2) - y2
    d3 = (q3 if z3 >= 0.0 else e3 * q3) - y3
    lin = ((max(z0, 0.0) - y0 * z0) + (max(z1, 0.0) - y1 * z1)) + (
        (max(z2, 0.0) - y2 * z2) + (max(z3, 0.0) - y3 * z3)
    )
    E = e0
    E = E + e1 + E * e1
    E = E + e2 + E * e2
    E = E + e3 + E * e3
    return lin + _log1p_small(E), d0, d1, d2, d3


def _linear_c_py(X, y, w, b, s, head, nchunks):  # type: ignore[no-untyped-def]
    m, n = X.shape
    P = np.zeros((nchunks, n + 2))  # per chunk: grad_w, grad_b, loss
    weighted = s.size > 0
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        g = np.zeros(n)
        gb = 0.0
        total = 0.0
        i = lo
        # eight rows at a time: each load of w and each update of g serves eight rows
        # (measured 1.15x the read bound, 1.25x with four rows)
        while i + 8 <= hi:
            # rows as 1-D views: j from range() is known >= 0, so the loops vectorize
            # without a negative-index test per element
            x0 = X[i]
            x1 = X[i + 1]
            x2 = X[i + 2]
            x3 = X[i + 3]
            x4 = X[i + 4]
            x5 = X[i + 5]
            x6 = X[i + 6]
            x7 = X[i + 7]
            z0 = z1 = z2 = z3 = z4 = z5 = z6 = z7 = 0.0
            for j in range(n):
                wj = w[j]
                z0 += x0[j] * wj
                z1 += x1[j] * wj
                z2 += x2[j] * wj
                z3 += x3[j] * wj
                z4 += x4[j] * wj
                z5 += x5[j] * wj
                z6 += x6[j] * wj
                z7 += x7[j] * wj
            if head == 1 and not weighted:  # logs dominate BCE: one per four rows
                lq, d0, d1, d2, d3 = _bce_quad(
                    z0 + b, z1 + b, z2 + b, z3 + b, y[i], y[i + 1], y[i + 2], y[i + 3]
                )
                lr, d4, d5, d6, d7 = _bce_quad(
                    z4 + b, z5 + b, z6 + b, z7 + b, y[i + 4], y[i + 5], y[i + 6], y[i + 7]
                )
                total += lq + lr
            else:
                l0, d0 = _pointwise_nb(head, z0 + b, y[i])
                l1, d1 = _pointwise_nb(head, z1 + b, y[i + 1])
                l2, d2 = _pointwise_nb(head, z2 + b, y[i + 2])
                l3, d3 = _pointwise_nb(head, z3 + b, y[i + 3])
                l4, d4 = _pointwise_nb(head, z4 + b, y[i + 4])
                l5, d5 = _pointwise_nb(head, z5 + b, y[i + 5])
                l6, d6 = _pointwise_nb(head, z6 + b, y[i + 6])
                l7, d7 = _pointwise_nb(head, z7 + b, y[i + 7])
                if weighted:
                    l0, d0 = l0 * s[i], d0 * s[i]
                    l1, d1 = l1 * s[i + 1], d1 * s[i + 1]
                    l2, d2 = l2 * s[i + 2], d2 * s[i + 2]
                    l3, d3 = l3 * s[i + 3], d3 * s[i + 3]
                    l4, d4 = l4 * s[i + 4], d4 * s[i + 4]
                    l5, d5 = l5 * s[i + 5], d5 * s[i + 5]
                    l6, d6 = l6 * s[i + 6], d6 * s[i + 6]
                    l7, d7 = l7 * s[i + 7], d7 * s[i + 7]
                total += ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
            gb += ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7))
            for j in range(n):  # the eight rows are still in L1
                g[j] += ((d0 * x0[j] + d1 * x1[j]) + (d2 * x2[j] + d3 * x3[j])) + (
                    (d4 * x4[j] + d5 * x5[j]) + (d6 * x6[j] + d7 * x7[j])
                )
            i += 8
        while i < hi:
            z = 0.0
            for j in range(n):
                z += X[i, j] * w[j]
            li, d = _pointwise_nb(head, z + b, y[i])
            if weighted:
                li *= s[i]
                d *= s[i]
            total += li
            gb += d
            for j in range(n):
                g[j] += d * X[i, j]
            i += 1
        P[c, :n] = g
        P[c, n] = gb
        P[c, n + 1] = total
    return P


linear_c_nb = njit(parallel=True, cache=True, fastmath=VEC)(_linear_c_py)
