"""The compiled single pass for softmax + CCE: BLAS on cache-resident row blocks.

``softmax_c_nb(X, y, W, b, s, nchunks)`` returns per-chunk partial gradients of shape
(nchunks, K, n + 1) (bias in column n) and per-chunk losses; the caller adds them in chunk
order (reproducible). Only imported when numba is present.

Why BLAS inside the pass. The arithmetic is two skinny products per row block, ``Z = X_b W``
and ``G += D_b^T X_b`` (2 n K multiply-adds per row). Loops compiled by numba reach ~5-10
multiply-adds per ns per core on them (LLVM cannot keep a GEMM register tile); OpenBLAS's
small-matrix kernels on an L2-resident block reach ~13-20. So each task walks its chunk in
blocks of ``block_rows`` rows: X_b is read from memory once by the first product and from
cache by the second, and between them the softmax runs on a transposed (K, rows) copy of the
logits, where every step is a contiguous loop over the block's rows that LLVM vectorises,
``exp`` included (a polynomial, below: libm's scalar ``exp`` cost as much as a product).
"""

from __future__ import annotations

import numpy as np

from gdlab.kernels._numba import VEC, njit, prange

__all__ = ["block_rows", "softmax_c_nb"]

# Rows per block: R n K multiply-adds per product stay at or below OpenBLAS's threshold for
# threading a gemm (65536 * 4), so each call runs on the calling thread (no nested thread
# pools); capped at 512 rows (measured: 256-512 rows run at the same speed, 1024 is slower).
_GEMM_SERIAL_MNK = 262_144
_MAX_BLOCK_ROWS = 512

# exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 in [-ln2/2, ln2/2]. ln 2 is split so
# that k * _LN2_HI is exact (|k| < 2^11); the Taylor polynomial of degree 13 then has a
# truncation error below 1e-17 relative, so the result is within ~2 ulp of libm's exp.
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_ROUND = 6755399441055744.0  # 1.5 * 2^52: x + _ROUND - _ROUND rounds x to an integer
# below this exp(x) is subnormal (< 2.2e-308); returned as 0 (absolute error < 2.3e-308)
_EXP_MIN = -708.0
_INV_FACT = tuple(1.0 / float(np.prod(np.arange(1, i + 1, dtype=np.float64))) for i in range(14))


def block_rows(n: int, K: int) -> int:
    """Rows per block for X with n features and K classes (a function of the shape only)."""
    return max(1, min(_MAX_BLOCK_ROWS, _GEMM_SERIAL_MNK // max(1, n * K)))


# 'contract' only: fused multiply-adds in the polynomial. No 'reassoc': it would fold the
# rounding trick (x + _ROUND) - _ROUND into x.
@njit(cache=True, fastmath={"contract"})
def _exp_parts(T, size, E, bits):  # type: ignore[no-untyped-def]
    """E[i] * (bits[i] viewed as float64) = exp(T[i]) for i < size; T <= 0 or NaN."""
    c = _INV_FACT
    for i in range(size):
        x = T[i]
        x = _EXP_MIN if x < _EXP_MIN else x  # NaN passes through (the comparison is false)
        kf = (x * _LOG2E + _ROUND) - _ROUND
        r = (x - kf * _LN2_HI) - kf * _LN2_LO
        p = c[13]
        p = p * r + c[12]
        p = p * r + c[11]
        p = p * r + c[10]
        p = p * r + c[9]
        p = p * r + c[8]
        p = p * r + c[7]
        p = p * r + c[6]
        p = p * r + c[5]
        p = p * r + c[4]
        p = p * r + c[3]
        p = p * r + c[2]
        p = p * r + c[1]
        E[i] = p * r + c[0]
        bits[i] = (np.int64(kf) + 1023) << 52  # 2^k as float64 bits (k >= -1022 here)


@njit(cache=True)
def _softmax_block(Z, b, y, s, i0, weighted, T, E, bits, D, v, ty, gb):  # type: ignore[no-untyped-def]
    """Softmax + CCE for the logits Z (nr, K) of rows i0 .. i0 + nr (bias not yet added).

    Writes D (K, nr) = s * (softmax(Z + b) - onehot(y))^T in D's dtype, adds its row sums to
    gb and returns sum(s * loss). T, E, bits (K * nr), v, ty (nr) are work buffers. Compiled
    strictly (no fast-math): the loops over rows vectorise without it.
    """
    nr, K = Z.shape
    for r in range(nr):  # transpose: every step below is a contiguous loop over rows
        for k in range(K):
            T[k * nr + r] = Z[r, k] + b[k]
    for r in range(nr):
        v[r] = T[r]
    for k in range(1, K):
        for r in range(nr):
            v[r] = max(v[r], T[k * nr + r])
    # subtract the row max: exp overflows above ~709 (logits of +-1000 must work)
    for k in range(K):
        for r in range(nr):
            T[k * nr + r] -= v[r]
    for r in range(nr):
        ty[r] = T[y[i0 + r] * nr + r]
    size = K * nr
    _exp_parts(T, size, E, bits)
    scale = bits.view(np.float64)
    for r in range(nr):
        v[r] = 0.0
    for k in range(K):
        for r in range(nr):
            i = k * nr + r
            e = 0.0 if T[i] < _EXP_MIN else E[i] * scale[i]
            E[i] = e
            v[r] += e
    total = 0.0
    for r in range(nr):
        sr = s[i0 + r] if weighted else 1.0
        total += sr * (np.log(v[r]) - ty[r])  # logsumexp(z) - z_y, z shifted by the max
        v[r] = sr / v[r]
    for k in range(K):
        acc = 0.0
        for r in range(nr):
            d = E[k * nr + r] * v[r]
            if y[i0 + r] == k:
                d -= s[i0 + r] if weighted else 1.0
            D[k, r] = d
            acc += d
        gb[k] += acc
    return total


def _softmax_c_py(X, y, W, b, s, nchunks, R):  # type: ignore[no-untyped-def]
    m, n = X.shape
    K = W.shape[1]
    P = np.zeros((nchunks, K, n + 1))  # K-major partial gradients, bias in column n
    losses = np.zeros(nchunks)
    weighted = s.size > 0
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        G = np.zeros((K, n))
        gb = np.zeros(K)
        Gb = np.empty((K, n), dtype=X.dtype)
        Zbuf = np.empty(R * K, dtype=X.dtype)
        Dbuf = np.empty(R * K, dtype=X.dtype)
        T = np.empty(R * K)
        E = np.empty(R * K)
        bits = np.empty(R * K, dtype=np.int64)
        v = np.empty(R)
        ty = np.empty(R)
        total = 0.0
        for i0 in range(lo, hi, R):
            nr = min(R, hi - i0)
            Xb = X[i0 : i0 + nr]
            Z = Zbuf[: nr * K].reshape((nr, K))
            np.dot(Xb, W, Z)  # BLAS; X_b comes from memory here ...
            D = Dbuf[: nr * K].reshape((K, nr))
            total += _softmax_block(Z, b, y, s, i0, weighted, T, E, bits, D, v, ty, gb)
            np.dot(D, Xb, Gb)  # ... and from cache here
            for k in range(K):
                for j in range(n):
                    G[k, j] += Gb[k, j]
        P[c, :, :n] = G
        P[c, :, n] = gb
        losses[c] = total
    return P, losses


_softmax_c_nb = njit(parallel=True, cache=True, fastmath=VEC)(_softmax_c_py)


def softmax_c_nb(X, y, W, b, s, nchunks):  # type: ignore[no-untyped-def]
    """Per-chunk partial gradients (nchunks, K, n + 1) and losses (nchunks,) of softmax + CCE.

    X (m, n) C-contiguous float64 or float32; y (m,) intp labels; W (n, K) C-contiguous in
    X's dtype; b (K,) float64; s (m,) float64 sample weights or an empty array for none.
    Chunk c covers rows ``c * m // nchunks`` to ``(c + 1) * m // nchunks``; the blocks inside
    a chunk depend on (n, K) only, so the sums do not depend on the thread count.
    """
    return _softmax_c_nb(X, y, W, b, s, nchunks, block_rows(X.shape[1], W.shape[1]))
