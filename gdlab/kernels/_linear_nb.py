"""The compiled single pass for one output: identity + MSE and sigmoid + BCE.

``linear_c_nb(X, y, w, b, s, head, nchunks)`` returns per-chunk partial sums, shape
(nchunks, n + 2): gradient over w, gradient over b, loss; the caller adds the rows in chunk
order (reproducible). Only imported when numba is present.

Each chunk is walked in groups of eight rows (each load of w serves eight rows), group q
being row q of each eighth of the chunk: the chunk is read as eight interleaved streams. One
core reading one stream keeps too few cache lines in flight; with eight, the hardware
prefetchers keep ~1.5x as many (a 2-thread read of X ran 1.5-1.6x faster, and these kernels
took 0.73-0.88x the time of a consecutive-row pass, on the VM of docs/benchmarks.md).
MSE computes each group's residuals in registers and adds its gradient at once. BCE works
in blocks of groups, in three steps: the logits of the block, the point-wise loss and dl/dz
of the whole block in one loop, then the gradient (the rows still in cache).
The middle loop is what makes BCE cheap: numba has no vector math library here (no SVML), and
a scalar ``np.exp`` costs ~10 ns, so :func:`exp_nb` and :func:`log1p_unit_nb` are written out
as branch-free polynomials that LLVM vectorises across the rows of the block (~2 ns each).
"""

from __future__ import annotations

import numpy as np

from gdlab.kernels._numba import VEC, f64_from_bits, njit, prange

__all__ = ["exp_nb", "linear_c_nb", "log1p_unit_nb"]

# Point-wise code: only 'contract' (fused multiply-adds, never less accurate); no 'reassoc',
# which would undo the two-part ln 2 reduction below. error_model="numpy": a float division
# by zero gives inf instead of a Python exception, whose test per element blocks
# vectorisation. The point-wise helpers are inlined by numba (inline="always": LLVM's own
# inliner gave up on exp + log1p in one loop, which then ran scalar, 10x slower); inlined code
# takes the caller's flags, so they are called only from functions compiled with _PT.
_PT = {"contract"}

_LOG2E = 1.4426950408889634
# ln 2 split so that k * _LN2_HI is exact for |k| < 2^11 (fdlibm's constants)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2_M1 = 0.41421356237309503
# fdlibm's log kernel: log(1 + f) = 2 atanh(s), s = f / (2 + f), |s| <= 0.1716; error < 1 ulp
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01

# rows per block: ~24 KiB of X (the block is read twice, the second time from L1/L2), at
# least 32 rows (the point-wise loop needs a few vectors), at most _BLOCK_MAX
_BLOCK_BYTES = 24 * 1024
_BLOCK_MAX = 256


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def exp_nb(x):  # type: ignore[no-untyped-def]
    """exp(x) within 1 ulp (normal results), correctly flushed to 0, subnormal or inf.

    Branch-free, so a loop of calls vectorises. x = k ln2 + r with k = round(x / ln2) and
    |r| <= ln2 / 2 (Cody-Waite, two-part ln2); exp(r) by its Taylor series to degree 13
    (truncation < 1e-17); 2^k as two normal powers of two built from their bits, so that
    results below 2^-1022 round once into the subnormals. x is clamped to [-746, 710]
    (exp(-746) rounds to 0, exp(710) overflows to inf); NaN gives NaN.
    """
    xc = x if x > -746.0 else -746.0
    xc = xc if xc < 710.0 else 710.0
    kf = np.floor(xc * _LOG2E + 0.5)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    t = 1.0 / 6227020800.0
    t = t * r + 1.0 / 479001600.0
    t = t * r + 1.0 / 39916800.0
    t = t * r + 1.0 / 3628800.0
    t = t * r + 1.0 / 362880.0
    t = t * r + 1.0 / 40320.0
    t = t * r + 1.0 / 5040.0
    t = t * r + 1.0 / 720.0
    t = t * r + 1.0 / 120.0
    t = t * r + 1.0 / 24.0
    t = t * r + 1.0 / 6.0
    t = t * r + 0.5
    p = 1.0 + (r + (r * r) * t)  # the 1 added last: no rounding error of its own
    k = np.int64(kf)  # in [-1076, 1024]: each half within the normal exponents
    k1 = k >> 1
    k2 = k - k1
    e = (p * f64_from_bits((k1 + 1023) << 52)) * f64_from_bits((k2 + 1023) << 52)
    return e if x == x else x


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _log1p_reduce(t):  # type: ignore[no-untyped-def]
    """For t in [0, 1]: (f, k) with 1 + t = 2^k (1 + f), k in {0, 1}, 1 + f in [0.7, 1.42]."""
    if t >= _SQRT2_M1:
        return (t - 1.0) * 0.5, 1.0
    return t, 0.0  # f = t exactly: no rounding of 1 + t, so tiny t keep full accuracy


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _log1p_finish(f, k, s):  # type: ignore[no-untyped-def]
    """k ln2 + log(1 + f), given s = f / (2 + f) (fdlibm's __ieee754_log kernel)."""
    hfsq = 0.5 * f * f
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    R = t2 + t1
    return k * _LN2_HI - ((hfsq - (s * (hfsq + R) + k * _LN2_LO)) - f)


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def log1p_unit_nb(t):  # type: ignore[no-untyped-def]
    """log1p(t) for t in [0, 1] within 1 ulp, branch-free (vectorises); NaN gives NaN."""
    f, k = _log1p_reduce(t)
    return _log1p_finish(f, k, f / (2.0 + f))


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _bce_row(z, yi):  # type: ignore[no-untyped-def]
    """BCE of one row and dl/dz: logaddexp(0, z) - y z and sigmoid(z) - y.

    With e = exp(-|z|) in [0, 1]: logaddexp(0, z) = max(z, 0) + log1p(e), sigmoid(z) =
    1 / (1 + e) for z >= 0 and e / (1 + e) otherwise; finite for |z| ~ 1000. The two
    divisions (1 / (1 + e) and log1p's f / (2 + f)) share one reciprocal (a few ulp).
    """
    e = exp_nb(-abs(z))
    f, k = _log1p_reduce(e)
    u = 1.0 + e
    v = 2.0 + f
    rec = 1.0 / (u * v)
    q = v * rec
    sig = q if z >= 0.0 else e * q
    zp = z if z > 0.0 else 0.0
    return (zp - yi * z) + _log1p_finish(f, k, (f * u) * rec), sig - yi


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _pointwise_nb(head, z, yi):  # type: ignore[no-untyped-def]
    """Per-sample loss and dl/dz: identity + MSE (head 0) or sigmoid + BCE (head 1)."""
    if head == 0:
        d = z - yi
        return d * d, 2.0 * d
    return _bce_row(z, yi)


@njit(cache=True, error_model="numpy", fastmath=_PT)
def _pointwise_one(head, z, yi):  # type: ignore[no-untyped-def]
    """:func:`_pointwise_nb` behind a call, for the kernel: keeps the _PT flags."""
    return _pointwise_nb(head, z, yi)


@njit(cache=True, error_model="numpy", fastmath=_PT)
def _pointwise_block(head, zb, y, s, i, nb, db, lb):  # type: ignore[no-untyped-def]
    """Loss (lb) and dl/dz (db) of rows i..i+nb from their logits zb[:nb], weighted by s.

    One loop per case, each free of branches and calls after inlining: LLVM vectorises it.
    """
    if head == 0:
        if s.size > 0:
            for k in range(nb):
                d = zb[k] - y[i + k]
                lb[k] = s[i + k] * (d * d)
                db[k] = s[i + k] * (2.0 * d)
        else:
            for k in range(nb):
                d = zb[k] - y[i + k]
                lb[k] = d * d
                db[k] = 2.0 * d
    elif s.size > 0:
        for k in range(nb):
            lk, dk = _bce_row(zb[k], y[i + k])
            lb[k] = s[i + k] * lk
            db[k] = s[i + k] * dk
    else:
        for k in range(nb):
            lk, dk = _bce_row(zb[k], y[i + k])
            lb[k] = lk
            db[k] = dk


@njit(cache=True, inline="always")
def _rows8(X, r, P):  # type: ignore[no-untyped-def]
    """Rows r, r + P, ..., r + 7P of X as 1-D views (one row of each of eight streams)."""
    return (X[r], X[r + P], X[r + 2 * P], X[r + 3 * P], X[r + 4 * P], X[r + 5 * P],
            X[r + 6 * P], X[r + 7 * P])


@njit(cache=True, fastmath=VEC, inline="always")
def _dot8(X, r, P, wx):  # type: ignore[no-untyped-def]
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
def _grad8(g, X, r, P, dx, k):  # type: ignore[no-untyped-def]
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


def _linear_c_py(X, y, w, b, s, head, nchunks):  # type: ignore[no-untyped-def]
    m, n = X.shape
    P = np.zeros((nchunks, n + 2))  # per chunk: grad_w, grad_b, loss
    weighted = s.size > 0
    # a function of n only: the sums do not depend on the thread count
    block = max(32, min(_BLOCK_MAX, _BLOCK_BYTES // (X.itemsize * n) // 8 * 8))
    # float32 X: the products and the sums of one row (dot) or of eight rows (gradient) in
    # float32, eight lanes per vector and no widening per element; float64 across rows
    wx = w.astype(X.dtype)
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        # group q: rows r, r + d, ..., r + 7d with r = lo + q (eight streams through the chunk)
        n_groups = d = (hi - lo) // 8
        g = np.zeros(n)
        zb = np.empty(block)
        db = np.empty(block)
        dx = np.empty(block, dtype=X.dtype)
        lb = np.empty(block)
        yb = np.empty(block)
        sb = np.empty(block if weighted else 0)
        gb = 0.0
        total = 0.0
        q = 0
        # MSE: eight rows, the residuals kept in registers (measured 5-15% faster than
        # the blocks below, whose point-wise loop only pays for BCE's exp and log)
        while head == 0 and q < n_groups:
            r = lo + q
            z0, z1, z2, z3, z4, z5, z6, z7 = _dot8(X, r, d, wx)
            r0 = (z0 + b) - y[r]
            r1 = (z1 + b) - y[r + d]
            r2 = (z2 + b) - y[r + 2 * d]
            r3 = (z3 + b) - y[r + 3 * d]
            r4 = (z4 + b) - y[r + 4 * d]
            r5 = (z5 + b) - y[r + 5 * d]
            r6 = (z6 + b) - y[r + 6 * d]
            r7 = (z7 + b) - y[r + 7 * d]
            if weighted:
                v0, v1, v2, v3 = s[r] * r0, s[r + d] * r1, s[r + 2 * d] * r2, s[r + 3 * d] * r3
                v4, v5 = s[r + 4 * d] * r4, s[r + 5 * d] * r5
                v6, v7 = s[r + 6 * d] * r6, s[r + 7 * d] * r7
            else:
                v0, v1, v2, v3, v4, v5, v6, v7 = r0, r1, r2, r3, r4, r5, r6, r7
            total += ((v0 * r0 + v1 * r1) + (v2 * r2 + v3 * r3)) + (
                (v4 * r4 + v5 * r5) + (v6 * r6 + v7 * r7)
            )
            gb += 2.0 * (((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)))
            dx[0] = 2.0 * v0  # in X's dtype
            dx[1] = 2.0 * v1
            dx[2] = 2.0 * v2
            dx[3] = 2.0 * v3
            dx[4] = 2.0 * v4
            dx[5] = 2.0 * v5
            dx[6] = 2.0 * v6
            dx[7] = 2.0 * v7
            _grad8(g, X, r, d, dx, 0)
            q += 1
        # BCE: blocks of groups; logits, then the point-wise loop, then the gradient
        while head != 0 and q < n_groups:
            nq = min(block // 8, n_groups - q)
            nb = 8 * nq
            for t in range(nq):
                r = lo + q + t
                z0, z1, z2, z3, z4, z5, z6, z7 = _dot8(X, r, d, wx)
                k = 8 * t
                zb[k] = z0 + b
                zb[k + 1] = z1 + b
                zb[k + 2] = z2 + b
                zb[k + 3] = z3 + b
                zb[k + 4] = z4 + b
                zb[k + 5] = z5 + b
                zb[k + 6] = z6 + b
                zb[k + 7] = z7 + b
                for u in range(8):
                    yb[k + u] = y[r + u * d]
                if weighted:
                    for u in range(8):
                        sb[k + u] = s[r + u * d]
            _pointwise_block(head, zb, yb, sb, 0, nb, db, lb)
            for k in range(nb):
                dx[k] = db[k]
            # The sums in a loop that only reads: a loop that also stores is versioned at run
            # time on the buffers' addresses (vector body or scalar fallback), and the two
            # would sum in different orders, so results could differ between calls.
            for k in range(nb):
                total += lb[k]
                gb += db[k]
            for t in range(nq):  # the block's rows are still in L1/L2
                _grad8(g, X, lo + q + t, d, dx, 8 * t)
            q += nq
        for i in range(lo + 8 * n_groups, hi):  # the last < 8 rows of the chunk
            z = 0.0
            for j in range(n):
                z += X[i, j] * w[j]
            li, dl = _pointwise_one(head, z + b, y[i])
            if weighted:
                li *= s[i]
                dl *= s[i]
            total += li
            gb += dl
            for j in range(n):
                g[j] += dl * X[i, j]
        P[c, :n] = g
        P[c, n] = gb
        P[c, n + 1] = total
    return P


linear_c_nb = njit(parallel=True, cache=True, fastmath=VEC)(_linear_c_py)
