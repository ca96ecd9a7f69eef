"""Fused full-batch gradient kernels: loss, dL/dW and dL/db in one pass over X.

Contract. For the three canonical pairs (identity + MSE, sigmoid + BCE, softmax + CCE) the
gradient with respect to the logits is ``dL/dz = s * (y_hat - y) / S`` (times 2 for MSE), so

    grad_W = X^T dL/dz,    grad_b = sum over rows of dL/dz,

where ``s`` are sample weights (1 when None) and ``S = sum(s)`` for the mean reduction,
``S = 1`` for the sum reduction. The loss is ``sum(s_i l_i) / S``.

The plain formula (``X.T @ r`` after ``X @ w``) reads X from memory twice, and OpenBLAS's
``X.T @ r`` on a C-ordered X runs on one thread. A full-batch gradient is memory-bound, so the
fused kernels here read each row block once: they form the block's logits, residuals and its
``X_block^T r`` contribution while the block is still in cache.

Three implementations, all computing the same numbers:

- ``plain_*``: the textbook NumPy formula; the reference for tests.
- blocked NumPy (``blocked_*``): the plain formula on row blocks of ~1.5 MiB, so each block
  is read from memory once and reused from cache.
- numba, C-ordered X: a compiled single pass, ``prange`` over fixed row chunks (~4 MiB) into
  per-chunk partial sums combined in chunk order. The chunking depends only on the shape of
  X, never on the thread count, so results are bit-for-bit reproducible across thread counts
  and runs. The linear kernel reads each chunk as eight interleaved streams (one per eighth
  of its rows: the hardware prefetchers follow them ~1.5x faster than one) and handles eight
  rows per step (one load of w and one update of the gradient serve them all; their
  point-wise step is one 8-lane vector chain). Narrow X (n <= 32) runs that group step as
  LLVM vector code with the eight rows in registers. Softmax walks each chunk in L2-sized row
  blocks and calls BLAS on them (``Z_b = X_b W``, softmax in place, ``G += D_b^T X_b``),
  blocks small enough that OpenBLAS keeps each product on the calling thread. Linear /
  logistic float32 input is summed in float32 within a row's dot product and within each
  group of eight rows of the gradient, in float64 across rows (Fortran order: within a
  sweep's columns and within a block's rows; narrow X: widened to float64 as it is loaded);
  the gradient is returned in float32.
- numba, Fortran-ordered X: the same chunks. Linear / logistic read row blocks of one 4 KiB
  page per column (512 float64 rows) column by column (each column is contiguous); a block's
  logits are built in the same sweeps as the previous block's gradient, whose columns are
  still in L2. Narrow X takes eight consecutive rows at a time, each of its columns one
  vector.
  Softmax copies each block column by column and runs the same BLAS pass.

Which one runs (``linear_loss_grad`` / ``softmax_loss_grad``; benchmarks/gradient.py, softmax.py):
C- or Fortran-ordered X -> numba (softmax: the whole-array formula for shapes with much
arithmetic per byte, ``n * K > 16384``, and for one row or column); strided X -> blocked
NumPy; no numba -> the same NumPy paths. ``loss_grad`` (what models call) uses
these from ``FUSED_MIN_SIZE`` entries of X on (``FUSED_MIN_SIZE_SOFTMAX`` for softmax,
``FUSED_MIN_SIZE_NARROW`` for the narrow kernels) and the plain formula below.

Layout: ``_numpy.py`` (input checks, plain and blocked NumPy), ``_numba.py`` (the compiler,
when present), ``_pointwise_nb.py`` (the compiled point-wise losses: polynomial exp / log1p,
and BCE on eight lanes as LLVM vector code), ``_linear_nb.py`` (C order), ``_linear_f_nb.py``
(Fortran order), ``_linear_small_nb.py`` (their group steps for narrow X, as LLVM vector
code) and ``_softmax_nb.py`` (the compiled passes); this module chooses between them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdlab.core._validation import check_choice
from gdlab.engines._compiler import numba_available
from gdlab.engines.kernels._numpy import (
    BLOCK_BYTES,
    HEADS,
    LINEAR_LOSSES,
    _as_X,
    _block_rows,
    _check_params,
    _linear_numpy,
    _prepare_linear,
    _prepare_softmax,
    _softmax_numpy,
    blocked_linear_loss_grad,
    blocked_softmax_loss_grad,
    plain_linear_loss_grad,
    plain_softmax_loss_grad,
)

#: numba is installed (found, not imported): the compiled modules (``_*_nb.py``, which import
#: numba) are imported by the functions below when a compiled kernel runs, never here.
HAVE_NUMBA = numba_available()
# widest X (features) of the narrow kernels: _linear_small_nb.SMALL_N (that module imports
# numba; tests/test_kernels.py checks the two agree)
_NARROW_N = 32

__all__ = [
    "BLOCK_BYTES",
    "CHUNK_BYTES",
    "FUSED_MIN_SIZE",
    "FUSED_MIN_SIZE_NARROW",
    "FUSED_MIN_SIZE_SOFTMAX",
    "HAVE_NUMBA",
    "blocked_linear_loss_grad",
    "blocked_softmax_loss_grad",
    "compiled_kernel",
    "fused_min_size",
    "linear_fused_min_size",
    "linear_loss_grad",
    "loss_grad",
    "plain_linear_loss_grad",
    "plain_softmax_loss_grad",
    "softmax_loss_grad",
]

# Rows of X handed to one parallel task; a function of X's shape only, so sums are reproducible.
CHUNK_BYTES = 4 * 1024 * 1024
# Below these many entries of X (m * n) `loss_grad` uses the plain formula: for small X the
# compiled pass's parallel start-up costs more than the plain formula's second read of X,
# which comes from cache. Measured by benchmarks/dispatch.py, plain / fused at n = 100:
# 0.8 at 1e5 entries, 0.9-1.2 at 3e5, 1.6-1.9 at 1e6, 2.3-2.9 at 3e6 (MSE, BCE, softmax);
# softmax does K x more arithmetic per byte and breaks even at 3e5.
FUSED_MIN_SIZE = 1_000_000
FUSED_MIN_SIZE_SOFTMAX = 300_000
# Narrow X (n <= 32 features, C or Fortran order) has compiled kernels that keep each group of
# rows in registers (_linear_small_nb); against the plain formula, whose X.T @ r on skinny X
# runs on one thread, they are 1.2-3.3x faster at 3e5 entries (n = 10 and 32, MSE and BCE),
# 0.87-2.1x at 1e5 and slower below (measured by benchmarks/dispatch.py).
FUSED_MIN_SIZE_NARROW = 300_000


def _n_chunks(X: NDArray[Any]) -> int:
    """Parallel tasks for X: a function of its shape only (reproducible sums)."""
    return int(min(X.shape[0], max(1, -(-X.nbytes // CHUNK_BYTES))))



class _Schedule:
    """Run the next parallel region with a coarse dynamic schedule, on one thread for one chunk.

    numba's default static schedule gives each thread a fixed half of the chunks; on a shared
    machine a descheduled thread then stalls the whole call, so chunks are handed out in
    portions of about a quarter of a thread's share. X of a single chunk runs on the calling
    thread only: waking the pool costs more than it saves. Both settings are numba's
    thread-local ones and are restored on exit; they change who computes a chunk, never the
    sums (each chunk has its own row of partials).
    """

    def __init__(self, nchunks: int) -> None:
        self.nchunks = nchunks

    def __enter__(self) -> None:
        from numba import get_num_threads, set_parallel_chunksize

        self.old_threads = get_num_threads()
        # hand chunks out in ~4 portions per thread: a chunk at a time costs ~20% on an idle
        # machine (measured: 1.42x vs 1.19x the read bound), while a fixed half per thread
        # stalls behind one descheduled thread
        self.old_chunk = set_parallel_chunksize(max(1, self.nchunks // (4 * self.old_threads)))
        if self.nchunks == 1:
            from numba import set_num_threads

            set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        from numba import set_num_threads, set_parallel_chunksize

        set_parallel_chunksize(self.old_chunk)
        set_num_threads(self.old_threads)


def _use_compiled(X: NDArray[Any]) -> bool:
    """True when the compiled row-wise kernel suits X: C-contiguous and numba present.

    Fortran-ordered X has its own compiled passes (``_use_compiled_fortran``; for linear /
    logistic a column-at-a-time pass over whole columns measured 2-4x slower than BLAS,
    512-row blocks beat it); strided views take the blocked NumPy path, which also reads X
    from memory once.
    """
    return HAVE_NUMBA and X.flags.c_contiguous and X.shape[0] > 0 and X.shape[1] > 0


def linear_fused_min_size(X: ArrayLike) -> int:
    """Entries of X (m * n) from which :func:`loss_grad` takes the fused linear / logistic pass.

    ``FUSED_MIN_SIZE_NARROW`` where the compiled narrow kernels run (numba present, C- or
    Fortran-ordered X of at most 32 features), ``FUSED_MIN_SIZE`` otherwise. X is taken as
    the kernels would take it (2-D, float); anything else raises ``ValueError``.
    """
    Xa = _as_X(X)
    narrow = HAVE_NUMBA and Xa.shape[1] <= _NARROW_N and (
        _use_compiled(Xa) or _use_compiled_fortran(Xa))
    return FUSED_MIN_SIZE_NARROW if narrow else FUSED_MIN_SIZE


def fused_min_size(head: str, X: ArrayLike) -> int:
    """Entries of X (m * n) from which :func:`loss_grad` takes the fused pass for ``head``."""
    return FUSED_MIN_SIZE_SOFTMAX if head == "cce" else linear_fused_min_size(X)


def compiled_kernel(head: str, X: NDArray[Any], K: int = 1) -> Any:
    """The numba dispatcher that :func:`loss_grad` runs for ``head`` on X (K classes for
    'cce') above its size threshold, or None when a NumPy path runs there (imports the
    compiled module)."""
    fortran, rows = _use_compiled_fortran(X), _use_compiled(X)
    if not (fortran or rows):
        return None
    if head == "cce":
        if not _softmax_suits(X.shape[0], X.shape[1], K):
            return None
        from gdlab.engines.kernels import _softmax_nb

        return _softmax_nb._softmax_f_nb if fortran else _softmax_nb._softmax_c_nb
    from gdlab.engines.kernels import _linear_f_nb, _linear_nb

    module: Any = _linear_f_nb if fortran else _linear_nb
    return module._narrow_nb if X.shape[1] <= _NARROW_N else module._wide_nb


def _use_compiled_fortran(X: NDArray[Any]) -> bool:
    """True when the compiled column-block kernel suits X: Fortran-ordered (not also C)."""
    return (
        HAVE_NUMBA
        and X.flags.f_contiguous
        and not X.flags.c_contiguous
        and X.shape[0] > 0
        and X.shape[1] > 0
    )


def _linear_fused(
    X: NDArray[Any],
    y: NDArray[np.float64],
    w: NDArray[Any],
    b: float,
    loss: str,
    s: NDArray[np.float64] | None,
    S: float,
) -> tuple[float, NDArray[Any], float]:
    fortran = _use_compiled_fortran(X)
    if not (fortran or _use_compiled(X)):
        return _linear_numpy(X, y, w, b, loss, s, S, _block_rows(X))
    from gdlab.engines.kernels._linear_f_nb import linear_f_nb
    from gdlab.engines.kernels._linear_nb import linear_c_nb

    n = X.shape[1]
    head = LINEAR_LOSSES.index(loss)
    w64 = np.ascontiguousarray(w, dtype=np.float64)
    s64 = np.empty(0) if s is None else s
    nchunks = _n_chunks(X)
    with _Schedule(nchunks):
        if fortran:
            P = linear_f_nb(X.T, y, w64, float(b), s64, head, nchunks)
        else:
            P = linear_c_nb(X, y, w64, float(b), s64, head, nchunks)
    total = P.sum(axis=0)  # chunk order is fixed: reproducible
    return float(total[n + 1]) / S, (total[:n] / S).astype(X.dtype), float(total[n]) / S


def _softmax_suits(m: int, n: int, K: int) -> bool:
    from gdlab.engines.kernels._softmax_nb import suits

    return suits(m, n, K)


def _softmax_fused(
    X: NDArray[Any],
    y: NDArray[np.intp],
    W: NDArray[Any],
    b: NDArray[Any],
    s: NDArray[np.float64] | None,
    S: float,
) -> tuple[float, NDArray[Any], NDArray[Any]]:
    compiled = _use_compiled(X) or _use_compiled_fortran(X)
    if not (compiled and _softmax_suits(X.shape[0], X.shape[1], W.shape[1])):
        # strided views, and shapes with much arithmetic per byte of X (softmax_suits): the
        # whole-array formula (threaded BLAS) measured faster than blocks here
        return _softmax_numpy(X, y, W, b, s, S, max(1, X.shape[0]))
    from gdlab.engines.kernels._softmax_nb import softmax_c_nb

    n = X.shape[1]
    b64 = np.ascontiguousarray(b, dtype=np.float64)
    s64 = np.empty(0) if s is None else s
    WX = np.ascontiguousarray(W, dtype=X.dtype)  # BLAS multiplies in X's dtype
    nchunks = _n_chunks(X)
    with _Schedule(nchunks):
        P, losses = softmax_c_nb(X, y, WX, b64, s64, nchunks)
    total = P.sum(axis=0)
    grad_W = (total[:, :n].T / S).astype(X.dtype)
    return float(losses.sum()) / S, grad_W, (total[:, n] / S).astype(X.dtype)


def linear_loss_grad(
    X: ArrayLike,
    y: ArrayLike,
    w: ArrayLike,
    b: float,
    *,
    loss: str = "mse",
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], float]:
    """Loss and gradient of a linear (MSE) or logistic (BCE) model in one pass over X.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        C- or Fortran-ordered, float64 or float32 (the gradient comes back in X's dtype).
    y : array of shape (n_samples,)
        Targets (MSE) or 0/1 labels (BCE).
    w : array of shape (n_features,)
    b : float
    loss : {'mse', 'bce'}
        'mse': z = X w + b, l_i = (z_i - y_i)^2. 'bce': l_i = logaddexp(0, z_i) - y_i z_i.
    sample_weight : array of shape (n_samples,) or None
    reduction : {'mean', 'sum'}
        Weighted mean ``sum(s_i l_i) / sum(s_i)`` or the weighted sum.

    Returns
    -------
    loss : float
    grad_w : array of shape (n_features,)
    grad_b : float
    """
    Xa, ya, wa, s, S = _prepare_linear(X, y, w, loss, sample_weight, reduction)
    return _linear_fused(Xa, ya, wa, float(b), loss, s, S)


def softmax_loss_grad(
    X: ArrayLike,
    y: ArrayLike,
    W: ArrayLike,
    b: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], NDArray[np.floating]]:
    """Loss and gradient of softmax regression (CCE from logits) in one pass over X.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        C- or Fortran-ordered, float64 or float32 (the gradients come back in X's dtype).
    y : int array of shape (n_samples,)
        Class labels in [0, K).
    W : array of shape (n_features, K)
    b : array of shape (K,)
    sample_weight : array of shape (n_samples,) or None
    reduction : {'mean', 'sum'}

    Returns
    -------
    loss : float
    grad_W : array of shape (n_features, K)
    grad_b : array of shape (K,)
    """
    Xa, ya, Wa, ba, s, S = _prepare_softmax(X, y, W, b, sample_weight, reduction)
    return _softmax_fused(Xa, ya, Wa, ba, s, S)


def loss_grad(
    head: str,
    X: ArrayLike,
    y: ArrayLike,
    W: ArrayLike,
    b: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> tuple[float, NDArray[np.floating], NDArray[np.floating]]:
    """Full-batch loss and gradient for a linear model with a canonical head.

    Picks the fused one-pass kernel when ``m * n >= FUSED_MIN_SIZE`` (``FUSED_MIN_SIZE_SOFTMAX``
    for 'cce'; ``FUSED_MIN_SIZE_NARROW`` for narrow X, see :func:`linear_fused_min_size`) and
    the plain formula otherwise; both return the same numbers (to rounding).

    Parameters
    ----------
    head : {'mse', 'bce', 'cce'}
        identity + MSE, sigmoid + BCE, softmax + CCE (all from logits).
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
        Targets ('mse'), 0/1 labels ('bce') or class labels in [0, K) ('cce').
    W : array of shape (n_features, K)
        K = 1 for 'mse' and 'bce'.
    b : array of shape (K,)
    sample_weight : array of shape (n_samples,) or None
    reduction : {'mean', 'sum'}

    Returns
    -------
    loss : float
    grad_W : array of shape (n_features, K)
    grad_b : array of shape (K,)
    """
    check_choice(head, "head", HEADS)
    Xa = _as_X(X)
    Wa = np.asarray(W)
    _check_params(Xa, Wa, "W", 2)
    ba = np.asarray(b).reshape(-1)
    if ba.shape != (Wa.shape[1],):
        raise ValueError(
            f"Input b must have shape (K,) = ({Wa.shape[1]},) to match W of shape {Wa.shape}; "
            f"got shape {np.shape(b)} instead."
        )
    size = Xa.shape[0] * Xa.shape[1]
    if head == "cce":
        fused = size >= FUSED_MIN_SIZE_SOFTMAX
        fn = softmax_loss_grad if fused else plain_softmax_loss_grad
        return fn(Xa, y, Wa, ba, sample_weight=sample_weight, reduction=reduction)
    fused = size >= linear_fused_min_size(Xa)
    if Wa.shape[1] != 1:
        raise ValueError(
            f"Input W for head={head!r} must have shape (n_features, 1); got shape "
            f"{Wa.shape}. Use head='cce' for K > 1 classes."
        )
    lfn = linear_loss_grad if fused else plain_linear_loss_grad
    value, grad_w, grad_b = lfn(
        Xa, y, Wa[:, 0], float(ba[0]), loss=head, sample_weight=sample_weight,
        reduction=reduction,
    )
    return value, grad_w[:, None], np.array([grad_b], dtype=grad_w.dtype)
