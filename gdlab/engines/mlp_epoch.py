"""Compiled mini-batch epochs of a multilayer perceptron: every step of an epoch in one call.

The Python loop spends ~0.3 ms per step on a 200-row batch of a 50-128-10 network around
products that take ~0.1 ms (`python benchmarks/mlp.py`): the optimizer's temporaries, the
activation and head passes, the batch gather. This module runs the whole epoch of an
:class:`~gdlab.core.models.MLP` in numba for the common case (rows in memory, no dropout,
activations identity, relu, leaky_relu, elu, tanh or sigmoid, the canonical heads: softmax +
CCE on integer labels, sigmoid + BCE or identity + MSE with one output, an optimizer of
:mod:`gdlab.engines.fastepoch`) with the same steps as the loop:

- each batch's rows are copied through the epoch's permutation (``state.order``) into one
  buffer; the products ``A W``, ``A^T dZ`` and ``dZ W^T`` are BLAS gemms in the data's dtype
  (float32 stays float32), run on one BLAS thread: at 200 x 128 a second thread costs more in
  hand-offs than it saves, and on a busy machine far more;
- the formulas are the core's, compiled: the activations and their derivatives from the
  output (:mod:`gdlab.core.activations`), the point-wise heads and the fused softmax head of
  the GLM's compiled epoch, the L2 term (:func:`gdlab.core.models.mlp.l2_weights`) and the
  optimizers' rules (:func:`gdlab.engines.fastepoch.update_params`);
- divergence stops the epoch before the first non-finite step, which the Python loop then
  redoes and reports, as in :mod:`gdlab.engines.fastepoch`.

Float64 epochs agree with the Python loop to rounding (``tests/test_mlp_epoch.py``).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core._blas import one_blas_thread
from gdlab.core.models.mlp import MLP
from gdlab.core.sources import ArraySource
from gdlab.engines import fastepoch

Array = NDArray[Any]

__all__ = ["ACT_CODES", "MLPEpoch", "plan", "unsupported_reason"]

#: hidden activations with a compiled pass, by kernel code (gelu's derivative needs z)
ACT_CODES = {"identity": 0, "relu": 1, "leaky_relu": 2, "elu": 3, "tanh": 4, "sigmoid": 5}
_HEADS = {"mse": 0, "bce": 1, "cce": 2}

if fastepoch.HAVE_NUMBA:
    import numba
    from numba import njit, prange

    from gdlab.engines.fastepoch import commit_step, softmax_cce_rows
    from gdlab.engines.kernels._formulas_nb import backward_act as _backward
    from gdlab.engines.kernels._formulas_nb import forward_act as _forward
    from gdlab.engines.kernels._formulas_nb import l2_weights
    from gdlab.engines.kernels._numba import prefetch as _prefetch
    from gdlab.engines.kernels._pointwise_nb import pointwise_one

    #: rows ahead whose cache lines the batch gather asks for while copying a row: rows read in
    #: random order are latency-bound (200 rows of 50 float32 from a 30 MB X: 28 us without
    #: prefetching)
    PREFETCH_ROWS = 8

    @njit(cache=True)
    def _gather(X, order, lo, m, A):
        """A[:m] = X[order[lo:lo + m]], prefetching every cache line of the row PREFETCH_ROWS
        places later in the order."""
        n = X.shape[1]
        line = max(1, 64 // X.itemsize)
        end = order.shape[0]
        for i in range(m):
            q = lo + i + PREFETCH_ROWS
            if q < end:
                base = order[q] * n
                for c in range(0, n, line):
                    _prefetch(X, base + c)  # type: ignore[call-arg]  # numba's @intrinsic stub keeps typingctx as the first parameter
            r = X[order[lo + i]]
            for j in range(n):
                A[i, j] = r[j]

    @njit(cache=True, error_model="numpy")
    def _half(X, yf, ylab, s, order, lo, m, inv_m, total, weighted, head, sizes, offs, acts,
              theta, abuf, aoff, zbuf, d1, d2, g):
        """Forward and backward pass over rows X[order[lo:lo + m]] (half of a batch): g (the
        gradient of theta's shape) gets their share of dL/dtheta, each row's term scaled by
        inv_m (or s / total); returns their loss sum (weighted: over total)."""
        g[:] = 0.0
        if m == 0:
            return 0.0
        L = sizes.shape[0] - 1
        n0, K = sizes[0], sizes[L]
        A = abuf[:m * n0].reshape((m, n0))
        _gather(X, order, lo, m, A)
        for layer in range(L - 1):
            s_, w_, e_ = offs[layer]
            n_out = sizes[layer + 1]
            H = abuf[aoff[layer + 1]:aoff[layer + 1] + m * n_out].reshape((m, n_out))
            np.dot(A, theta[s_:w_].reshape((sizes[layer], n_out)), H)
            _forward(acts[layer], H, theta[w_:e_])
            A = H
        s_, w_, e_ = offs[L - 1]
        Z = zbuf[:m * K].reshape((m, K))
        np.dot(A, theta[s_:w_].reshape((sizes[L - 1], K)), Z)
        dZ = d1[:m * K].reshape((m, K))
        if head == 2:
            loss = softmax_cce_rows(Z, dZ, theta[w_:e_], ylab, s, order, lo, m, total,
                                    weighted, inv_m)
        else:
            loss = 0.0
            b0 = np.float64(theta[w_])
            for i in range(m):
                r = order[lo + i]
                li, di = pointwise_one(head, np.float64(Z[i, 0]) + b0, yf[r])
                c = s[r] / total if weighted else inv_m
                loss += li * c if weighted else li
                dZ[i, 0] = di * c
        # backward: dL/dW = A^T dZ, dL/db = column sums of dZ, dZ <- (dZ W^T) f'(A)
        flip = 0
        for layer in range(L - 1, -1, -1):
            s_, w_, e_ = offs[layer]
            n_in, n_out = sizes[layer], sizes[layer + 1]
            A = abuf[aoff[layer]:aoff[layer] + m * n_in].reshape((m, n_in))
            np.dot(A.T, dZ, g[s_:w_].reshape((n_in, n_out)))
            gb = g[w_:e_]
            for i in range(m):
                for j in range(n_out):
                    gb[j] += dZ[i, j]
            if layer == 0:
                break
            nxt = (d2 if flip == 0 else d1)[:m * n_in].reshape((m, n_in))
            np.dot(dZ, theta[s_:w_].reshape((n_in, n_out)).T, nxt)
            _backward(acts[layer - 1], nxt, A)
            dZ = nxt
            flip = 1 - flip
        return loss

    @njit(cache=True, error_model="numpy")
    def _finish(loss, g, alpha, scale, theta, buf1, buf2, buf3, opt, hp, lr, t, m, stats,
                new_theta, new1, new2, new3, cast):
        """The L2 term, then :func:`gdlab.engines.fastepoch.commit_step`; True if committed."""
        if alpha != 0.0:
            p_loss, p_grad = l2_weights(theta, scale, alpha)
            loss += p_loss
            for p in range(g.shape[0]):
                g[p] += p_grad[p]
        return commit_step(loss, g, theta, buf1, buf2, buf3, opt, hp, lr, t, m, stats,
                           new_theta, new1, new2, new3, cast)

    @njit(nogil=True, cache=True, parallel=True, error_model="numpy")
    def _epoch_mlp(X, yf, ylab, s, order, bs, head, sizes, offs, acts, alpha, scale, theta,
                   buf1, buf2, buf3, opt, hp, lr, count0, stats):
        """Every batch of one epoch; returns the steps committed (the first non-finite step
        is not).

        Each batch is cut in two halves of rows (the first ``ceil(m / 2)``), passed forward
        and backward side by side (``prange``: on two threads when numba has two, else one
        after the other) and their gradients added: the same sums whatever the threads.
        sizes (L + 1,) the layer widths, offs (L, 3) each layer's (start of W, start of b, end
        of b) in theta, acts (L - 1,) the hidden layers' ACT_CODES, scale (n_params,) 1 at the
        weights and 0 at the biases.
        """
        L = sizes.shape[0] - 1
        half = (bs + 1) // 2
        aoff = np.zeros(L + 1, dtype=np.int64)
        for layer in range(L):
            aoff[layer + 1] = aoff[layer] + half * sizes[layer]
        widest = 0
        for layer in range(L + 1):
            widest = max(widest, sizes[layer])
        dt = theta.dtype
        P = theta.shape[0]
        abuf = np.empty((2, aoff[L]), dtype=dt)
        zbuf = np.empty((2, half * sizes[L]), dtype=dt)
        d1 = np.empty((2, half * widest), dtype=dt)
        d2 = np.empty((2, half * widest), dtype=dt)
        gh = np.empty((2, P), dtype=dt)
        losses = np.zeros(2)
        g = np.empty_like(theta)
        new_theta = np.empty_like(theta)
        new1, new2, new3 = np.empty_like(buf1), np.empty_like(buf2), np.empty_like(buf3)
        cast = np.empty(1, dtype=dt)
        weighted = s.shape[0] > 0
        n_rows = X.shape[0]
        n_batches = (n_rows + bs - 1) // bs
        for bi in range(n_batches):
            lo = bi * bs
            m = min(bs, n_rows - lo)
            total = 0.0
            zero_batch = weighted
            if weighted:
                for i in range(m):
                    w = s[order[lo + i]]
                    total += w
                    if w != 0.0:
                        zero_batch = False
            if zero_batch:  # rows of zero weight only: a zero step (the loop's ArraySource)
                loss = 0.0
                g[:] = 0.0
            else:
                m0 = (m + 1) // 2
                inv_m = 1.0 / m
                for h in prange(2):
                    losses[h] = _half(X, yf, ylab, s, order, lo + h * m0,
                                      m0 if h == 0 else m - m0, inv_m, total, weighted, head,
                                      sizes, offs, acts, theta, abuf[h], aoff, zbuf[h], d1[h],
                                      d2[h], gh[h])
                for p in range(P):
                    g[p] = gh[0, p] + gh[1, p]
                loss = losses[0] + losses[1]
                if not weighted:
                    loss = loss * inv_m
            if not _finish(loss, g, alpha, scale, theta, buf1, buf2, buf3, opt, hp, lr,
                           count0 + bi + 1, m, stats, new_theta, new1, new2, new3, cast):
                return bi
        return n_batches


def unsupported_reason(problem: Any, optimizer: Any, config: Any,
                       step_callbacks: Any = ()) -> str | None:
    """Why the compiled MLP epoch cannot run this problem (None: it can)."""
    if not fastepoch.ENABLED:
        return "gdlab.engines.fastepoch.ENABLED is False"
    if not fastepoch.HAVE_NUMBA:
        return "numba is not installed"
    model, source = getattr(problem, "model", None), getattr(problem, "source", None)
    if not isinstance(model, MLP) or not isinstance(source, ArraySource):
        return "the problem is not an MLP on rows in memory (ArraySource)"
    X = source.X
    if (not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype not in (np.float32, np.float64)
            or not X.flags.c_contiguous):
        return "X is not a C-contiguous float32/float64 array"
    if config.batch_size is None or config.batch_size >= X.shape[0]:
        return "full-batch descent (one step per epoch gains nothing)"
    if config.schedule_unit != "epoch":
        return "schedule_unit='step' (the learning rate changes within the epoch)"
    if step_callbacks:
        return "step callbacks need the Python loop"
    if model.uses_dropout:
        return "dropout"
    if any(a not in ACT_CODES for a in model.activation):
        return f"activation {model.activation} has no compiled pass"
    y = np.asarray(source.y)
    if model.loss not in _HEADS or y.ndim != 1 or (model.loss != "cce" and model.n_outputs != 1):
        return f"loss {model.loss!r} on targets of shape {y.shape} is not a canonical head"
    if model.loss == "cce" and y.dtype.kind not in "iu":
        return "softmax labels are not integers"
    w = source.sample_weight
    if w is not None and (np.ndim(w) != 1 or not np.all(np.isfinite(w)) or np.any(
            np.asarray(w) < 0)):
        return "sample_weight is not 1-D, finite and >= 0"
    if fastepoch._optimizer_spec(optimizer) is None:
        return f"optimizer {type(optimizer).__name__} has no compiled update"
    return None


#: Threads that run a batch's two halves: "auto" times epochs on 1 and on 2 threads (the
#: results are the same bits) and keeps the faster: a second core halves the products on an
#: idle machine, and when the cores are busy the hand-offs between the threads cost more than
#: they save (10x slower epochs measured at load 5 on 2 cores). Two threads are tried only
#: while the 1-minute load average (this process's own thread included) leaves a core free,
#: below cpus - 0.5: first on the third epoch, and each time they lose again after twice as
#: many epochs as before (2 x THREADS_RETRY, then 4 x ...). 1 or 2 fixes it.
THREADS: str | int = "auto"
THREADS_RETRY = 8


def _max_threads() -> int:
    """numba's thread pool size (NUMBA_NUM_THREADS)."""
    return int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))


class MLPEpoch(fastepoch.FastEpoch):
    """A compiled MLP epoch for one problem and optimizer (made by :func:`plan`); the state
    handling is :class:`gdlab.engines.fastepoch.FastEpoch`'s."""

    def __init__(self, problem: Any, optimizer: Any, config: Any) -> None:
        model, source = problem.model, problem.source
        self.X = source.X
        self.bs = int(config.batch_size)
        self.n_params = int(model.n_params)
        self.alpha = float(problem.alpha)
        self.head = _HEADS[model.loss]
        y = np.asarray(source.y)
        self.yf = np.empty(0) if self.head == 2 else np.ascontiguousarray(y, dtype=np.float64)
        self.ylab = (np.ascontiguousarray(y, dtype=np.int64) if self.head == 2
                     else np.empty(0, dtype=np.int64))
        w = source.sample_weight
        self.s = np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64)
        self.identity = np.arange(self.X.shape[0], dtype=np.int64)
        self.sizes = np.asarray(model.layer_sizes, dtype=np.int64)
        self.offs = np.asarray(model.offsets(), dtype=np.int64)
        self.acts = np.asarray([ACT_CODES[a] for a in model.activation] or [0], dtype=np.int64)
        self.scale = model.weight_mask().astype(self.X.dtype)
        spec = fastepoch._optimizer_spec(optimizer)
        assert spec is not None
        self.opt, hp, self.keys = spec
        self.hp = np.asarray(hp, dtype=np.float64)

        #: wall time of the last whole epoch on 1 and on 2 threads (THREADS = "auto")
        self.thread_seconds: dict[int, float] = {}
        self._epochs = 0
        self._retry = THREADS_RETRY
        self._next_try = 2  # two threads timed on the third epoch

    def staged(self, shuffled: bool = True) -> bool:
        return False

    def threads(self) -> int:
        """The threads of the next epoch (see THREADS)."""
        if THREADS != "auto":
            return int(THREADS)
        cpus = os.cpu_count() or 1
        if _max_threads() < 2 or cpus < 2:
            return 1
        t1, t2 = self.thread_seconds.get(1), self.thread_seconds.get(2)
        if t1 is None:
            return 1  # the first epochs on one thread (the first one is not timed)
        if t2 is not None and t2 < t1:
            return 2
        if self._epochs >= self._next_try and os.getloadavg()[0] < cpus - 0.5:
            return 2
        return 1

    def run_kernel(self, order: Array, theta: Array, bufs: list[Array], lr: float,
                   count0: int, stats: Array) -> int:
        threads = self.threads()
        before = numba.get_num_threads()
        numba.set_num_threads(min(threads, _max_threads()))
        t0 = time.perf_counter()
        try:
            with one_blas_thread():
                done = int(_epoch_mlp(self.X, self.yf, self.ylab, self.s, order, self.bs,
                                      self.head, self.sizes, self.offs, self.acts, self.alpha,
                                      self.scale, theta, bufs[0], bufs[1], bufs[2], self.opt,
                                      self.hp, lr, count0, stats))
        finally:
            numba.set_num_threads(before)
        self._epochs += 1
        if self._epochs > 1 and done == -(-self.X.shape[0] // self.bs):
            # whole epochs after the first (which may include loading the kernel)
            self.thread_seconds[threads] = time.perf_counter() - t0
            if threads == 2 and self.thread_seconds[2] >= self.thread_seconds.get(1, 0.0):
                self._retry *= 2  # two threads lost: try them again later
                self._next_try = self._epochs + self._retry
        return done


def plan(problem: Any, optimizer: Any, config: Any, step_callbacks: Any = ()
         ) -> MLPEpoch | None:
    """An :class:`MLPEpoch` for this run, or None when the Python loop must run it."""
    if unsupported_reason(problem, optimizer, config, step_callbacks) is not None:
        return None
    return MLPEpoch(problem, optimizer, config)
