"""The compiled single pass for softmax + CCE: BLAS on cache-resident row blocks.

``softmax_c_nb(X, y, W, b, s, nchunks)`` returns per-chunk partial gradients of shape
(nchunks, K, n + 1) (bias in column n) and per-chunk losses; the caller adds them in chunk
order (reproducible). Only imported when numba is present.

The step per row is :func:`gdlab.core.pointwise.cce_point`'s (``l = logsumexp(z) - z_y``,
``dl/dz = softmax(z) - onehot(y)``), fused with the products and computed with the polynomial
exp below; ``tests/test_kernels_softmax_nb.py`` holds the pass equal to
:func:`~gdlab.engines.kernels.plain_softmax_loss_grad` (which calls ``cce_point``) to 1e-12
relative in float64 (``tests/_checks.py``'s TOL).

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

from gdlab.engines.kernels._numba import VEC, f64_from_bits, njit, prange

__all__ = ["block_rows", "exp_nonpositive", "softmax_c_nb", "suits"]

# Rows per block: R n K multiply-adds per product stay at or below OpenBLAS's threshold for
# threading a gemm (65536 * 4), so each call runs on the calling thread. Above it OpenBLAS
# starts its own threads inside numba's parallel region: measured 10x slower, with
# "OpenBLAS Warning : Detect OpenMP Loop and this application may hang". Capped at 512 rows
# (measured: 128-512 rows run at the same speed, 1024 slower).
_GEMM_SERIAL_MNK = 262_144
_MAX_BLOCK_ROWS = 512
# From this many classes the C-ordered pass sweeps each block into cache before the gemm.
_TOUCH_MIN_CLASSES = 8
# Shapes whose serial block would be shorter than this go to the NumPy path (see suits()).
_MIN_BLOCK_ROWS = 16

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
    """Longest block, in rows, for X with n features and K classes (depends on the shape only)."""
    return max(1, min(_MAX_BLOCK_ROWS, _GEMM_SERIAL_MNK // max(1, n * K)))


def suits(m: int, n: int, K: int) -> bool:
    """True when the compiled pass handles an (m, n) X with K classes.

    It needs blocks of at least _MIN_BLOCK_ROWS rows (n K <= 16384) and never a
    matrix-vector product: numba's ``np.dot`` calls gemv when a block has one row (m = 1) or
    X one column (n = 1), and OpenBLAS threads gemv from 9216 entries on. The other shapes
    carry enough arithmetic per byte for the NumPy formula with threaded BLAS.
    """
    return m >= 2 and n >= 2 and n * K * _MIN_BLOCK_ROWS <= _GEMM_SERIAL_MNK


# Compiled strictly (no fast-math flags at all). No 'reassoc': it would fold the rounding
# trick (x + _ROUND) - _ROUND into x. No 'contract' either: with it LLVM fused multiply-adds
# differently in the vectorised loop and in its scalar fallback (taken when the run-time
# overlap check between the buffers fails, which depends on where they were allocated), so
# the same rows gave results 1 ulp apart from call to call. Not inline="always": LLVM
# inlines the call into the caller's vectorised loop and keeps these strict semantics.
@njit(cache=True)
def exp_nonpositive(x):
    """exp(x) for x <= 0 (or NaN), within ~2 ulp of libm; 0 below _EXP_MIN (subnormals)."""
    c = _INV_FACT
    xc = _EXP_MIN if x < _EXP_MIN else x  # NaN passes through (the comparison is false)
    kf = (xc * _LOG2E + _ROUND) - _ROUND
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
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
    p = p * r + c[0]
    e = p * f64_from_bits((np.int64(kf) + 1023) << 52)  # type: ignore[call-arg]  # numba's @intrinsic stub keeps typingctx as the first parameter (times 2^k, k >= -1022 here)
    return 0.0 if x < _EXP_MIN else e


@njit(cache=True)
def _softmax_block(Z, b, y, s, i0, weighted, T, D, v, acc, gb):
    """Softmax + CCE for the logits Z (nr, K) of rows i0 .. i0 + nr (bias not yet added).

    Writes D (K, nr) = s * (softmax(Z + b) - onehot(y))^T in D's dtype, adds its row sums to
    gb and returns sum(s * loss). T (K * nr), v and acc (nr) are work buffers. Compiled
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
    for r in range(nr):
        acc[r] = 0.0
    for k in range(K):
        for r in range(nr):
            e = exp_nonpositive(T[k * nr + r] - v[r])
            D[k, r] = e
            acc[r] += e
    total = 0.0
    for r in range(nr):  # read-only (see the row sums below)
        sr = s[i0 + r] if weighted else 1.0
        # logsumexp(z) - z_y with z shifted by the row max
        total += sr * (np.log(acc[r]) - (T[y[i0 + r] * nr + r] - v[r]))
    for r in range(nr):
        acc[r] = (s[i0 + r] if weighted else 1.0) / acc[r]
    for k in range(K):
        for r in range(nr):
            d = D[k, r] * acc[r]
            if y[i0 + r] == k:
                d -= s[i0 + r] if weighted else 1.0
            D[k, r] = d
        # The row sum in a loop of its own that only reads: a loop that also stores gets a
        # vector body and a scalar fallback chosen at run time by an address-overlap test
        # (the buffers' addresses vary from call to call), and the two summed in different
        # orders: the bias gradient was 1 ulp apart between calls (measured ~1 call in 20).
        a = 0.0
        for r in range(nr):
            a += D[k, r]
        gb[k] += a
    return total


@njit(cache=True)
def _chunk_work(X, R, K):
    """A chunk's sums and block buffers: G (K, n) and gb (K,) zeroed; Gb, Z, D, T, v, acc."""
    n = X.shape[1]
    return (np.zeros((K, n)), np.zeros(K), np.empty((K, n), dtype=X.dtype),
            np.empty(R * K, dtype=X.dtype), np.empty(R * K, dtype=X.dtype), np.empty(R * K),
            np.empty(R), np.empty(R))


@njit(cache=True, fastmath=VEC)
def _block_pass(Xb, W, b, y, s, i0, weighted, Zbuf, Dbuf, T, v, acc, gb, Gb, G):
    """One row block Xb (nr, n) (C- or Fortran-ordered) of rows i0 .. i0 + nr: G += D^T Xb.

    ``Z = Xb W`` by BLAS (X_b comes from memory, or the sweep's cache, here ...), softmax and
    CCE by :func:`_softmax_block` (D and the bias gradient gb), then ``Gb = D Xb`` by BLAS
    (... and from cache here), added to G (K, n). Returns the block's weighted loss sum.
    """
    nr, n = Xb.shape
    K = W.shape[1]
    Z = Zbuf[: nr * K].reshape((nr, K))
    np.dot(Xb, W, Z)
    D = Dbuf[: nr * K].reshape((K, nr))
    total = _softmax_block(Z, b, y, s, i0, weighted, T, D, v, acc, gb)
    np.dot(D, Xb, Gb)
    for k in range(K):
        for j in range(n):
            G[k, j] += Gb[k, j]
    return total


def _softmax_c_py(X, y, W, b, s, nchunks, R, touch):
    m, n = X.shape
    K = W.shape[1]
    P = np.zeros((nchunks, K, n + 1))  # K-major partial gradients, bias in column n
    losses = np.zeros(nchunks)
    swept = np.zeros(nchunks)
    weighted = s.size > 0
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        G, gb, Gb, Zbuf, Dbuf, T, v, acc = _chunk_work(X, R, K)
        total = 0.0
        seen = 0.0
        line = 64 // X.itemsize
        # nb blocks of near-equal length (>= R / 2 rows when nb > 1): never a one-row block
        nb = -(-(hi - lo) // R)
        for q in range(nb):
            i0 = lo + (hi - lo) * q // nb
            nr = lo + (hi - lo) * (q + 1) // nb - i0
            Xb = X[i0 : i0 + nr]
            if touch:
                # read one entry per cache line first: a sequential sweep the hardware
                # prefetcher streams at full bandwidth, where gemm's own reads from memory
                # are not (measured 10-15% faster for K = 10, 5% slower for K = 3)
                Xf = Xb.reshape(nr * n)
                for i in range(0, nr * n, line):
                    seen += Xf[i]
            total += _block_pass(Xb, W, b, y, s, i0, weighted, Zbuf, Dbuf, T, v, acc, gb, Gb,
                                 G)
        P[c, :, :n] = G
        P[c, :, n] = gb
        losses[c] = total
        swept[c] = seen  # an output, so the compiler keeps the sweep's loads
    return P, losses, swept


def _softmax_f_py(X, y, W, b, s, nchunks, R):
    """The pass for Fortran-ordered X: each block is first copied column by column."""
    m, n = X.shape
    K = W.shape[1]
    P = np.zeros((nchunks, K, n + 1))
    losses = np.zeros(nchunks)
    weighted = s.size > 0
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        G, gb, Gb, Zbuf, Dbuf, T, v, acc = _chunk_work(X, R, K)
        Xbuf = np.empty(R * n, dtype=X.dtype)
        total = 0.0
        nb = -(-(hi - lo) // R)
        for q in range(nb):
            i0 = lo + (hi - lo) * q // nb
            nr = lo + (hi - lo) * (q + 1) // nb - i0
            # A row block of F-ordered X is n column pieces of nr contiguous entries, not a
            # contiguous array (numba's np.dot would copy it anyway): copy it once into a
            # Fortran-ordered block, reading each column piece sequentially.
            XbT = Xbuf[: nr * n].reshape((n, nr))
            for j in range(n):
                for r in range(nr):
                    XbT[j, r] = X[i0 + r, j]
            Xb = XbT.T  # (nr, n), Fortran-ordered: BLAS reads it transposed
            total += _block_pass(Xb, W, b, y, s, i0, weighted, Zbuf, Dbuf, T, v, acc, gb, Gb,
                                 G)
        P[c, :, :n] = G
        P[c, :, n] = gb
        losses[c] = total
    return P, losses


_softmax_c_nb = njit(parallel=True, cache=True, fastmath=VEC)(_softmax_c_py)
_softmax_f_nb = njit(parallel=True, cache=True, fastmath=VEC)(_softmax_f_py)


def softmax_c_nb(X, y, W, b, s, nchunks):
    """Per-chunk partial gradients (nchunks, K, n + 1) and losses (nchunks,) of softmax + CCE.

    X (m, n) C- or Fortran-contiguous float64 or float32; y (m,) intp labels; W (n, K)
    C-contiguous in X's dtype; b (K,) float64; s (m,) float64 sample weights or an empty
    array for none. Chunk c covers rows ``c * m // nchunks`` to ``(c + 1) * m // nchunks``;
    the blocks inside a chunk depend on (m, n, K) only, so the sums do not depend on the
    thread count.
    """
    R = block_rows(X.shape[1], W.shape[1])
    if X.flags.c_contiguous:
        touch = W.shape[1] >= _TOUCH_MIN_CLASSES
        P, losses, _ = _softmax_c_nb(X, y, W, b, s, nchunks, R, touch)
        return P, losses
    return _softmax_f_nb(X, y, W, b, s, nchunks, R)
