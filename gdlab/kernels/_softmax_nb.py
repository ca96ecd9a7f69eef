"""The compiled single pass for softmax + CCE, K-major (rows of W^T).

``softmax_c_nb(X, y, Wt, b, s, nchunks)`` returns per-chunk partial gradients of shape
(nchunks, K, n + 1) (bias in column n) and per-chunk losses; the caller adds them in chunk
order (reproducible). Only imported when numba is present.
"""

from __future__ import annotations

import numpy as np

from gdlab.kernels._numba import VEC, njit, prange

__all__ = ["softmax_c_nb"]


@njit(cache=True)


def _softmax_row_nb(z, yi):  # type: ignore[no-untyped-def]
    """Overwrite logits z with softmax(z) - onehot(yi); return logsumexp(z) - z[yi]."""
    K = z.shape[0]
    zmax = z[0]
    for k in range(1, K):
        zmax = max(zmax, z[k])
    li = zmax - z[yi]
    acc = 0.0
    for k in range(K):
        z[k] = np.exp(z[k] - zmax)  # subtract the row max: exp overflows above ~709
        acc += z[k]
    inv = 1.0 / acc
    for k in range(K):
        z[k] *= inv
    z[yi] -= 1.0
    return li + np.log(acc)


def _softmax_c_py(X, y, Wt, b, s, nchunks):  # type: ignore[no-untyped-def]
    m, n = X.shape
    K = Wt.shape[0]
    P = np.zeros((nchunks, K, n + 1))  # K-major partial gradients, bias in column n
    losses = np.zeros(nchunks)
    weighted = s.size > 0
    for c in prange(nchunks):
        lo = c * m // nchunks
        hi = (c + 1) * m // nchunks
        G = np.zeros((K, n))
        gb = np.zeros(K)
        z0 = np.empty(K)
        z1 = np.empty(K)
        total = 0.0
        i = lo
        # two rows at a time: each row of W^T and of G serves both rows
        while i < hi:
            two = i + 1 < hi
            i1 = i + 1 if two else i
            for k in range(K):
                a0 = 0.0
                a1 = 0.0
                for j in range(n):
                    wkj = Wt[k, j]
                    a0 += X[i, j] * wkj
                    a1 += X[i1, j] * wkj
                z0[k] = a0 + b[k]
                z1[k] = a1 + b[k]
            l0 = _softmax_row_nb(z0, y[i])
            l1 = _softmax_row_nb(z1, y[i1])
            s0 = s[i] if weighted else 1.0
            s1 = (s[i1] if weighted else 1.0) if two else 0.0
            total += l0 * s0 + l1 * s1
            for k in range(K):
                r0 = z0[k] * s0
                r1 = z1[k] * s1
                gb[k] += r0 + r1
                for j in range(n):
                    G[k, j] += r0 * X[i, j] + r1 * X[i1, j]
            i += 2
        P[c, :, :n] = G
        P[c, :, n] = gb
        losses[c] = total
    return P, losses


softmax_c_nb = njit(parallel=True, cache=True, fastmath=VEC)(_softmax_c_py)
