"""Compiled mini-batch epochs: every optimizer step of one epoch in one numba call.

The training loop (:func:`gdlab.core.loop.run`) spends ~150 us of Python per mini-batch step
(gather ``X[idx]``, loss and gradient, optimizer update), which dominates a 256-row batch of
100 features. For the common case, a GLM on rows in memory with a canonical head
(identity + MSE, sigmoid + BCE with one output, softmax + CCE on integer labels) trained by
:class:`~gdlab.core.optim.GD`, :class:`~gdlab.core.optim.Momentum` (both forms, Nesterov, dampening,
weight decay) or :class:`~gdlab.core.optim.Adam` / :class:`~gdlab.core.optim.AdamW` (amsgrad) with
one
learning rate per epoch, this module runs the whole epoch in compiled code:

- rows are read through the epoch's permutation (``state.order``, drawn in Python by
  :func:`gdlab.core.shuffle.permutation` exactly as the loop does, so checkpoints and resume are
  unchanged); X is never copied;
- each batch computes the same loss and gradient as ``GLM.loss_and_grad_checked`` (mean over
  the batch, weighted mean ``sum(s_i l_i) / sum(s_i)`` with sample weights, a zero step for a
  batch whose weights are all zero, ``alpha / 2 ||W||^2`` with the bias unpenalized, a zero
  bias gradient without an intercept) and the same update as :mod:`gdlab.core.optim`, so float64
  results agree with the Python loop to rounding (~1e-15 per step). The formulas are the core's
  own functions, compiled: the point-wise MSE step (:mod:`gdlab.core.pointwise`), the
  optimizers' element-wise rules (:mod:`gdlab.core.optim.rules`, called per parameter with the
  hyperparameters read from the optimizer's public attributes) and the intercept rule and L2
  term (:func:`gdlab.core.models.glm.finish_flat`). The BCE and softmax steps are fused forms
  tested equal to :mod:`gdlab.core.pointwise` (see :mod:`gdlab.engines.kernels._pointwise_nb`
  and the softmax head in :func:`_step`);
- the epoch statistics the loop records (sum of loss * rows, rows, sum of gradient norms,
  steps, last finite loss) are accumulated in the same order.

Divergence: the kernel checks the loss, the gradient and the new parameters at every step and
stops *before* committing a step that is non-finite. The state then holds everything up to
that step (``batch_index`` points at it) and the Python loop continues from there: it
recomputes that step and raises its :class:`~gdlab.core.loop.DivergenceError` with the same
epoch, step, learning rate and last finite loss as a pure Python run.

Two compiled paths run the same steps on the same rows, bit for bit:

- *direct* (:func:`_epoch_nb`): one thread reads each batch's rows through the permutation.
  Reading rows in random order is latency-bound (one core keeps about one 800-byte row in
  flight), so the arithmetic matters little and one core cannot go faster;
- *staged* (:func:`_epoch_staged`): the epoch is cut into super-chunks of a few batches;
  two threads take turns, each claiming the next super-chunk, gathering its rows through the
  permutation into its own contiguous buffer (two cores gathering keep twice as many rows in
  flight), waiting until the super-chunk before it has been stepped and then running its steps
  over the rows still in its own L2 cache. The steps stay in batch order; only the thread that
  runs them changes. Memory: one buffer of ``STAGE_BYTES`` (512 KiB) per thread, never a copy
  of X.

``STAGED = "auto"`` (the default) considers staging for shuffled epochs over X of at least
``STAGED_MIN_BYTES`` and times both paths, keeping the faster (see ``STAGED``).

Anything else (other losses, layouts, optimizers, schedules per step, step callbacks, a
resumed mid-epoch state, X not C-contiguous float32/float64, theta of another dtype) uses the
Python loop. Set ``gdlab.engines.fastepoch.ENABLED = False`` to force the Python loop everywhere.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core.models import GLM
from gdlab.core.optim import GD, SGD, Adam, AdamW, Momentum, Nesterov
from gdlab.core.sources import ArraySource

try:  # numba is the `fast` extra; without it every epoch takes the Python loop
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    from gdlab.engines.kernels._numba import prefetch as _prefetch
    from gdlab.engines.kernels._pointwise_nb import point8, pointwise_one, weigh8
    from gdlab.engines.kernels._softmax_nb import exp_nonpositive

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    HAVE_NUMBA = False

__all__ = ["ENABLED", "HAVE_NUMBA", "FastEpoch", "plan", "unsupported_reason"]

Array = NDArray[Any]

#: Module switch: False sends every epoch through the Python loop (the reference path).
ENABLED = True
# the staged path's spin-waits call the C library's sched_yield() (POSIX; not on Windows)
_HAVE_YIELD = hasattr(os, "sched_yield")

#: Staged epochs (two threads taking turns to gather a super-chunk's rows and step it, see
#: :func:`_epoch_staged`): "auto", "always" or "never" (the direct kernel, one thread
#: reading rows through the permutation). "auto" considers staging for a shuffled epoch over X
#: of at least STAGED_MIN_BYTES with two threads and two CPUs, and then measures: both paths
#: give identical results, so each epoch takes the one whose last epoch was faster, and the
#: other is timed again every STAGE_RETRY epochs (on a machine shared with other work the
#: second thread may not get a core, and staging then only adds a copy).
STAGED = "auto"
STAGE_RETRY = 8
#: Smallest X (bytes) staged under "auto": below it the rows stay in the caches anyway.
STAGED_MIN_BYTES = 64 << 20
#: Threads of a staged epoch: 2 = the calling thread plus a helper thread, taking turns;
#: 1 = the calling thread stages and steps every super-chunk (same results; used by tests).
#: Under "auto", staging needs 2 here and at least 2 CPUs (with one thread it only adds a copy).
STAGE_THREADS = 2
#: Target size of a thread's staging buffer (bytes); a super-chunk is a whole number of
#: batches, at least one. Small enough that a super-chunk gathered by a thread is still in its
#: L2 cache when the same thread steps it (the steps run ~2x slower from L3); paired runs on
#: 1M x 100 measured 1-2 batches of 200 KB best. Batches larger than STAGE_MAX_BYTES are not
#: staged under "auto".
STAGE_BYTES = 512 << 10
STAGE_MAX_BYTES = 16 << 20
#: While staging a row, prefetch the first line of the row this many places later in the order
#: (0: no prefetch; 2-16 measured alike at 1M x 100, none 1.2x slower).
STAGE_PREFETCH_ROWS = 4

_HEADS = {"mse": 0, "bce": 1, "cce": 2}
# optimizer codes inside the kernel
_GD, _LESSON, _TORCH, _ADAM = 0, 1, 2, 3
_SUPPORTED_OPTIMIZERS = (GD, Momentum, Nesterov, SGD, Adam, AdamW)


if HAVE_NUMBA:
    # the formulas of gdlab.core, compiled into _step (registered by _formulas_nb)
    from gdlab.engines.kernels._formulas_nb import (
        adam_rule,
        adam_scales,
        finish_flat,
        gd_rule,
        momentum_lesson_rule,
        momentum_torch_rule,
    )

    # Feature loops carry 'reassoc' + 'contract' only (vectorized dot products and FMAs, as in
    # gdlab.engines.kernels); no finite-math flags, so NaN/inf keep IEEE semantics for the
    # divergence
    # checks. The loss heads and the optimizer arithmetic are compiled strictly.
    _VEC = {"reassoc", "contract"}

    @njit(cache=True, fastmath=_VEC, inline="always")
    def _rows8(X, order, q):
        """Rows order[q], ..., order[q + 7] of X as 1-D views (the index is >= 0, so loops
        over them vectorise without a wraparound test)."""
        return (X[order[q]], X[order[q + 1]], X[order[q + 2]], X[order[q + 3]],
                X[order[q + 4]], X[order[q + 5]], X[order[q + 6]], X[order[q + 7]])

    @njit(cache=True, fastmath=_VEC, inline="always")
    def _dot8(X, order, q, w):
        """Dot products of rows order[q], ..., order[q + 7] of X with w[:n], in float64.

        Each load of w serves eight rows, and the eight sums are independent chains (four
        rows, 4-wide, were latency-bound).
        """
        x0, x1, x2, x3, x4, x5, x6, x7 = _rows8(X, order, q)
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        for j in range(X.shape[1]):
            wj = np.float64(w[j])
            a0 += np.float64(x0[j]) * wj
            a1 += np.float64(x1[j]) * wj
            a2 += np.float64(x2[j]) * wj
            a3 += np.float64(x3[j]) * wj
            a4 += np.float64(x4[j]) * wj
            a5 += np.float64(x5[j]) * wj
            a6 += np.float64(x6[j]) * wj
            a7 += np.float64(x7[j]) * wj
        return a0, a1, a2, a3, a4, a5, a6, a7

    @njit(cache=True, fastmath=_VEC, inline="always")
    def _grad8(g, X, order, q, d0, d1, d2, d3, d4, d5, d6, d7):
        """g += sum over u < 8 of d_u * X[order[q + u]], one pass over g (float64)."""
        x0, x1, x2, x3, x4, x5, x6, x7 = _rows8(X, order, q)
        for j in range(X.shape[1]):
            g[j] += ((d0 * np.float64(x0[j]) + d1 * np.float64(x1[j]))
                     + (d2 * np.float64(x2[j]) + d3 * np.float64(x3[j]))
                     + ((d4 * np.float64(x4[j]) + d5 * np.float64(x5[j]))
                        + (d6 * np.float64(x6[j]) + d7 * np.float64(x7[j]))))

    @njit(cache=True, fastmath=_VEC)
    def _batch1(head, X, order, lo, m, w, b, yf, s, total, weighted, g, yb):
        """Loss sum and dL/dz sum of one batch with one output: identity + MSE (head 0) or
        sigmoid + BCE (head 1); g = X_batch^T dL/dz.

        One pass, eight rows at a time, as in the full-batch kernel
        (:mod:`gdlab.engines.kernels._linear_nb`): their logits (each load of w serves eight rows,
        and
        the eight dot products are independent chains), their loss and dl/dz in registers
        (:func:`~gdlab.engines.kernels._pointwise_nb.point8`; for BCE one 8-lane vector chain), and
        their gradient while the rows are still in L1. A 256 x 100 MSE batch from L2 took
        9.8 us instead of 13.5 us for the three-pass blocks it replaced (logits, a point-wise
        loop, the gradient). The loss and bias sums are accumulated in a fixed order (eight
        rows as a tree, then the running sum), so every call sums alike. ``yb`` (bs,) is
        scratch for the batch's targets.

        Returns (sum_i s_i l_i / total or sum_i l_i without weights, sum_i dz_i).
        """
        n = X.shape[1]
        c = 1.0 / total if weighted else 1.0 / m
        for i in range(m):
            yb[i] = yf[order[lo + i]]
        g[:] = 0.0
        loss = 0.0
        gb = 0.0
        i = 0
        while i + 8 <= m:
            a0, a1, a2, a3, a4, a5, a6, a7 = _dot8(X, order, lo + i, w)
            o = point8(head, (a0 + b, a1 + b, a2 + b, a3 + b, a4 + b, a5 + b, a6 + b, a7 + b),
                       (yb[i], yb[i + 1], yb[i + 2], yb[i + 3], yb[i + 4], yb[i + 5],
                        yb[i + 6], yb[i + 7]))
            if weighted:
                o = weigh8(o, (s[order[lo + i]], s[order[lo + i + 1]], s[order[lo + i + 2]],
                               s[order[lo + i + 3]], s[order[lo + i + 4]], s[order[lo + i + 5]],
                               s[order[lo + i + 6]], s[order[lo + i + 7]]))
            l0, l1, l2, l3, l4, l5, l6, l7 = o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]
            v0, v1, v2, v3, v4, v5, v6, v7 = o[8], o[9], o[10], o[11], o[12], o[13], o[14], o[15]
            loss += ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
            d0, d1, d2, d3 = c * v0, c * v1, c * v2, c * v3
            d4, d5, d6, d7 = c * v4, c * v5, c * v6, c * v7
            gb += ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7))
            _grad8(g, X, order, lo + i, d0, d1, d2, d3, d4, d5, d6, d7)
            i += 8
        while i < m:  # the last < 8 rows
            x0 = X[order[lo + i]]
            a0 = 0.0
            for j in range(n):
                a0 += np.float64(x0[j]) * np.float64(w[j])
            l0, v0 = pointwise_one(head, a0 + b, yb[i])
            if weighted:
                l0 *= s[order[lo + i]]
                v0 *= s[order[lo + i]]
            loss += l0
            d0 = c * v0
            gb += d0
            for j in range(n):
                g[j] += d0 * np.float64(x0[j])
            i += 1
        if weighted:
            loss = loss * c
        return loss, gb

    @njit(cache=True, fastmath=_VEC)
    def _logits_k(X, order, lo, m, W, Z, xb, w64):
        """Z[:m] = X[order[lo:lo + m]] @ W for K outputs (W of shape (n, K), row-major).

        The batch's rows are copied into ``xb`` (float64, kept for :func:`_grad_k`) and the
        product is one BLAS gemm (numba's np.dot): 6x faster than a compiled loop over K
        on a 128 x 64 x 10 batch, and the same product the Python loop's ``X[idx] @ W`` makes.
        """
        n, K = W.shape
        for i in range(m):
            x = X[order[lo + i]]  # a row view: the copy vectorizes
            r = xb[i]
            for j in range(n):
                r[j] = np.float64(x[j])
        for j in range(n):
            for k in range(K):
                w64[j, k] = np.float64(W[j, k])
        np.dot(xb[:m], w64, Z[:m])

    @njit(cache=True, fastmath=_VEC)
    def _grad_k(xb, m, dZ, G):
        """G = X_batch^T dZ, shape (n, K), from the rows :func:`_logits_k` copied (one gemm)."""
        np.dot(xb[:m].T, dZ[:m], G)

    @njit(cache=True, fastmath=_VEC)
    def _sumsq_nan(v):
        """(sum of v_p^2, sum of v_p - v_p) in one vectorised pass.

        The second sum is 0 when every entry is finite and NaN otherwise (inf - inf and
        NaN - NaN are NaN; without 'nnan' LLVM does not fold x - x to 0). It replaces a branch
        per entry; the sum of squares only feeds the recorded gradient norm.
        """
        sq = 0.0
        nan = 0.0
        for p in range(v.shape[0]):
            vp = np.float64(v[p])
            sq += vp * vp
            nan += vp - vp
        return sq, nan

    # error_model="numpy": a division by zero gives inf or NaN as in NumPy (caught by the
    # finiteness checks) instead of a raise whose test per element stops LLVM vectorizing the
    # loops: the Adam update took 40 us per 7,818 parameters, 9 us with it
    @njit(cache=True, error_model="numpy")
    def softmax_cce_rows(Z, dZ, bias, ylab, s, idx, lo, m, total, weighted, inv_m):
        """The softmax + CCE head of one batch: :func:`gdlab.core.pointwise.cce_point` fused
        with the polynomial exp (exp_nonpositive); tests/test_fastepoch.py holds the epochs
        equal to the Python loop, which calls cce_point, to rtol 1e-12.

        Z (>= m, K) holds the batch's logits without the bias (K = bias.shape[0]); row i's
        label and weight are ``ylab[idx[lo + i]]`` and ``s[idx[lo + i]]``. Fills dZ[:m] with
        dL/dz (each row's times inv_m, or times s / total) and returns the loss: the sum of
        the rows' losses without weights (the caller multiplies by inv_m), their weighted sum
        over total with them. Z[:m] is overwritten.
        """
        K = bias.shape[0]
        loss = 0.0
        # shifted logits z - max(z) per row; Z[i, 0] then keeps z[y] - max(z) (the
        # rest of the row is not needed again)
        for i in range(m):
            mx = -np.inf
            for k in range(K):
                Z[i, k] += np.float64(bias[k])
                if Z[i, k] > mx:
                    mx = Z[i, k]
            for k in range(K):
                dZ[i, k] = Z[i, k] - mx
            Z[i, 0] = dZ[i, ylab[idx[lo + i]]]
        # the batch's exps in one flat loop: the polynomial exp vectorises
        flat = dZ[:m].reshape(m * K)
        for q in range(m * K):
            flat[q] = exp_nonpositive(flat[q])
        for i in range(m):
            se = 0.0
            for k in range(K):
                se += dZ[i, k]
            yi = ylab[idx[lo + i]]
            li = math.log(se) - Z[i, 0]
            c = s[idx[lo + i]] / total if weighted else inv_m
            pc = c / se  # one division per row, not per class
            for k in range(K):
                dZ[i, k] = dZ[i, k] * pc
            dZ[i, yi] -= c
            loss += li * c if weighted else li
        return loss

    @njit(cache=True, error_model="numpy")
    def update_params(opt, hp, g, theta, buf1, buf2, buf3, lr, t, new_theta, new1, new2, new3):
        """One optimizer step by :mod:`gdlab.core.optim.rules`, element by element.

        Writes the new parameters and buffers to new_theta, new1..3; when every new parameter
        is finite, commits them to theta and buf1..3 and returns True, else changes nothing
        and returns False. ``opt`` and ``hp`` come from :func:`_optimizer_spec`; t is the
        optimizer's step count after this step.
        """
        P = theta.shape[0]
        tf = np.float64(t)  # beta ** t as pow(double, double), as NumPy computes it
        # hyperparameters in locals and one loop per configuration: no test or load of hp
        # inside a loop, so LLVM vectorizes each (float32 Adam: 62 us -> 10 us per 7,818)
        h0, h1, h2, h3 = hp[0], hp[1], hp[2], hp[3]
        if opt == _ADAM:
            decoupled = hp[4] != 0.0
            step_size, bc2_sqrt = adam_scales(lr, tf, h0, h1)
            if hp[5] != 0.0:
                for p in range(P):
                    upd, new1[p], new2[p], new3[p] = adam_rule(
                        g[p], theta[p], buf1[p], buf2[p], buf3[p], lr, step_size, bc2_sqrt, h0,
                        h1, h2, h3, decoupled, True)
                    new_theta[p] = theta[p] + upd
            else:
                for p in range(P):
                    upd, new1[p], new2[p], _ = adam_rule(
                        g[p], theta[p], buf1[p], buf2[p], 0.0, lr, step_size, bc2_sqrt, h0, h1,
                        h2, h3, decoupled, False)
                    new_theta[p] = theta[p] + upd
        elif opt == _LESSON:
            nesterov = h3 != 0.0
            for p in range(P):
                upd, new1[p] = momentum_lesson_rule(g[p], theta[p], buf1[p], lr, h0, nesterov,
                                                    h2)
                new_theta[p] = theta[p] + upd
        elif opt == _TORCH:
            nesterov = h3 != 0.0
            for p in range(P):
                upd, new1[p] = momentum_torch_rule(g[p], theta[p], buf1[p], lr, tf, h0, h1,
                                                   nesterov, h2)
                new_theta[p] = theta[p] + upd
        else:
            for p in range(P):
                new_theta[p] = theta[p] + gd_rule(g[p], theta[p], lr, h2)
        if _sumsq_nan(new_theta)[1] != 0.0:
            return False
        theta[:] = new_theta
        if opt != _GD:
            buf1[:] = new1
        if opt == _ADAM:
            buf2[:] = new2
            if buf3.shape[0] > 0:
                buf3[:] = new3
        return True

    @njit(cache=True, error_model="numpy")
    def commit_step(loss, g, theta, buf1, buf2, buf3, opt, hp, lr, t, m, stats, new_theta, new1,
                    new2, new3, cast):
        """The end of a step over m rows: the loss in theta's dtype (``cast``), the loss and
        the gradient g checked finite, the optimizer's update (:func:`update_params`) and the
        epoch sums ``stats = [sum loss * rows, rows, sum |g|, last loss]``. True if committed;
        nothing changes otherwise."""
        cast[0] = loss
        gsq, nan = _sumsq_nan(g)
        if not (math.isfinite(cast[0]) and nan == 0.0):
            return False
        if not update_params(opt, hp, g, theta, buf1, buf2, buf3, lr, t, new_theta, new1, new2,
                             new3):
            return False
        lf = np.float64(cast[0])
        stats[0] += lf * m
        stats[1] += m
        stats[2] += math.sqrt(gsq)
        stats[3] = lf
        return True

    @njit(cache=True)
    def _step(src, yf, ylab, s, idx, lo, m, head, K, fit_intercept, alpha,
              theta, buf1, buf2, buf3, opt, hp, lr, t, stats, ws1, ws2, g64, g, new_theta,
              new1, new2, new3, cast, xb, w64, yb):
        """One optimizer step on the batch of rows ``src[idx[lo:lo + m]]``; True if committed.

        ``yf`` / ``ylab`` / ``s`` are indexed like ``src`` (by ``idx[lo + i]``), so the same
        code serves rows read from X through the permutation and rows staged contiguously.
        theta and the optimizer buffers (buf1, buf2, buf3: momentum buffer or Adam's mu, nu,
        nu_max) are updated in place and stats = [sum loss * rows, rows, sum |g|, last loss]
        accumulated, unless the loss, the gradient or the new parameters are non-finite: then
        nothing changes and False is returned. ``t`` is the optimizer's step count after this
        step; ws1, ws2, g64, g, new_theta, new1..3, cast, xb (bs, n) and w64 (n, K) (both
        float64, used by the softmax head) and yb (bs,) (the one-output heads) are scratch
        space.
        """
        n = src.shape[1]
        weighted = s.shape[0] > 0
        P = theta.shape[0]
        nK = n * K
        Z = ws1
        dZ = ws2
        # ---- loss and gradient (ModelProblem.loss_and_grad) ---------------------------------
        total = 0.0
        if weighted:
            for i in range(m):
                total += s[idx[lo + i]]
        zero_batch = False
        if weighted:
            zero_batch = True
            for i in range(m):
                if s[idx[lo + i]] != 0.0:
                    zero_batch = False
                    break
        if zero_batch:
            # a batch of zero-weight rows: loss 0 and a zero gradient (no L2 term)
            loss = 0.0
            for p in range(P):
                g[p] = 0.0
        else:
            inv_m = 1.0 / m
            loss = 0.0
            if head == 2:
                W = theta[:nK].reshape((n, K))
                _logits_k(src, idx, lo, m, W, Z, xb, w64)
                loss = softmax_cce_rows(Z, dZ, theta[nK:nK + K], ylab, s, idx, lo, m, total,
                                        weighted, inv_m)
                G = g64.reshape((n, K))
                _grad_k(xb, m, dZ, G)
                for k in range(K):
                    acc = 0.0
                    for i in range(m):
                        acc += dZ[i, k]
                    g[nK + k] = acc
            else:
                # a constant weighting per call site: the compiler specializes each batch loop
                b0 = np.float64(theta[n])
                if not weighted:
                    loss, g_b = _batch1(head, src, idx, lo, m, theta, b0, yf, s, total, False,
                                        g64, yb)
                else:
                    loss, g_b = _batch1(head, src, idx, lo, m, theta, b0, yf, s, total, True,
                                        g64, yb)
                g[n] = g_b
            if not weighted:
                loss = loss * inv_m
            for p in range(nK):
                g[p] = g64[p]
            # the intercept rule and the L2 term (the loop's GLM.penalty): one definition
            loss = finish_flat(loss, g, theta, nK, alpha, fit_intercept)
        return commit_step(loss, g, theta, buf1, buf2, buf3, opt, hp, lr, t, m, stats,
                           new_theta, new1, new2, new3, cast)

    @njit(cache=True)
    def _scratch(theta, buf1, buf2, buf3, bs, n, K, head):
        """The work arrays of :func:`_step` for one epoch (see its docstring)."""
        return (np.empty((bs, K)), np.empty((bs, K)), np.empty(n * K),
                np.empty(theta.shape[0], dtype=theta.dtype),  # the gradient in theta's dtype
                np.empty_like(theta), np.empty_like(buf1), np.empty_like(buf2),
                np.empty_like(buf3), np.empty(1, dtype=theta.dtype),
                np.empty((bs if head == 2 else 1, n)),  # the softmax head's batch rows
                np.empty((n, K)),
                np.empty(bs if head != 2 else 1))  # the one-output heads' targets

    @njit(nogil=True, cache=True)
    def _epoch_nb(X, yf, ylab, s, order, bs, head, K, fit_intercept, alpha,
                  theta, buf1, buf2, buf3, opt, hp, lr, count0, stats):
        """Run every batch of one epoch reading rows X[order[...]]; return the steps committed.

        theta, buf1..3 and stats are updated as by :func:`_step`; the first non-finite step is
        not committed and its index is returned.
        """
        n_rows, n = X.shape
        n_batches = (n_rows + bs - 1) // bs
        ws1, ws2, g64, g, new_theta, new1, new2, new3, cast, xb, w64, yb = _scratch(
            theta, buf1, buf2, buf3, bs, n, K, head)
        for bi in range(n_batches):
            lo = bi * bs
            m = min(bs, n_rows - lo)
            if not _step(X, yf, ylab, s, order, lo, m, head, K, fit_intercept, alpha, theta,
                         buf1, buf2, buf3, opt, hp, lr, count0 + bi + 1, stats, ws1, ws2, g64,
                         g, new_theta, new1, new2, new3, cast, xb, w64, yb):
                return bi
        return n_batches

    @intrinsic
    def _yield(typingctx):
        """``sched_yield()`` followed by a compiler memory barrier.

        Spin-waits call it: it gives the core away when the machine is oversubscribed, and
        (being opaque to the compiler, plus the barrier) it forces flags and staged rows
        written by the other thread to be re-read from memory rather than from registers.
        x86 and ARM keep a thread's stores ordered enough for the flags below because every
        flag is written after a call to this function.
        """
        sig = types.int32()

        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(ir.IntType(32), [])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "sched_yield")
            r = builder.call(fn, [])
            builder.asm(ir.FunctionType(ir.VoidType(), []), "", "~{memory}", [], True)
            builder.fence("seq_cst")
            return r

        return sig, codegen

    @njit(nogil=True, cache=True)
    def _stage(X, yf, ylab, s, order, lo, a, b, B, Yb, Lb, Sb, ahead):
        """Copy rows order[lo + a:lo + b] of X (and their y, label, weight) to B[a:b] etc.

        While copying a row, the first cache line of the row ``ahead`` places later in the
        order is prefetched: the copy alone keeps about one row in flight, and the prefetch
        starts the next rows' memory latency early. Only the first line: the hardware
        prefetchers follow on through the row (~13 lines at n = 100), and prefetching every
        line instead took 1.14x the time per epoch (paired, 1M x 100, 2 threads; the gather
        alone 1.12x), the extra prefetches competing for the core's line fill buffers.
        """
        n = X.shape[1]
        n_order = order.shape[0]
        for i in range(a, b):
            if ahead > 0 and lo + i + ahead < n_order:
                _prefetch(X, order[lo + i + ahead] * n)  # type: ignore[call-arg]  # numba's @intrinsic stub keeps typingctx as the first parameter
            x = X[order[lo + i]]
            bi = B[i]
            for j in range(n):
                bi[j] = x[j]
        if yf.shape[0] > 0:
            for i in range(a, b):
                Yb[i] = yf[order[lo + i]]
        if ylab.shape[0] > 0:
            for i in range(a, b):
                Lb[i] = ylab[order[lo + i]]
        if s.shape[0] > 0:
            for i in range(a, b):
                Sb[i] = s[order[lo + i]]

    @intrinsic
    def _fetch_add(typingctx, a, i, v):
        """Atomically add v to a[i] (int64, C-contiguous) and return the old value."""
        sig = types.int64(a, i, v)

        def codegen(context, builder, signature, args):
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            ptr = builder.gep(ary.data, [args[1]])
            return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

        return sig, codegen

    @njit(nogil=True, cache=True)
    def _epoch_staged(X, yf, ylab, s, order, bs, head, K, fit_intercept, alpha,
                      theta, buf1, buf2, buf3, opt, hp, lr, count0, stats, spc, B, Yb, Lb,
                      Sb, sync, info, me, ahead):
        """:func:`_epoch_nb` with the rows staged: the same steps on the same rows.

        Run by every thread of a staged epoch (the calling thread and the helper thread), with
        its own buffers B, Yb, Lb, Sb of ``spc`` batches. The epoch is cut into super-chunks
        of ``spc`` batches; each thread repeatedly claims the next super-chunk (sync[2],
        atomic), gathers its rows (and their y, label, weight) through the permutation into
        its buffer, waits until the super-chunk before it has been stepped (sync[0]) and runs
        its steps over the rows it staged, which are still in its own L2 cache. Gathering
        random rows is latency-bound, so two threads gathering read about twice as fast as
        one; the steps still run one at a time in batch order, so the result does not depend
        on the threads. The shared state (theta, buf1..3, stats) is only touched by the thread
        whose turn it is: each turn ends with a barrier before sync[0] moves on.

        sync = [super-chunks stepped, abort, next super-chunk to claim, first bad batch]: a
        non-finite step is not committed, its batch index goes to sync[3] and sync[1] = 1
        stops the other thread. info[me] counts the super-chunks this thread staged (me = 1
        for the calling thread, 0 for the helper).
        """
        n_rows, n = X.shape
        rows_c = spc * bs
        n_chunks = (n_rows + rows_c - 1) // rows_c
        ws1, ws2, g64, g, new_theta, new1, new2, new3, cast, xb, w64, yb = _scratch(
            theta, buf1, buf2, buf3, bs, n, K, head)
        local = np.arange(rows_c)  # staged rows are read in place: idx = identity
        while sync[1] == 0:
            c = _fetch_add(sync, 2, 1)  # type: ignore[call-arg, var-annotated]  # numba's @intrinsic stub keeps typingctx as the first parameter
            if c >= n_chunks:
                break
            lo = c * rows_c
            m_c = min(rows_c, n_rows - lo)
            _stage(X, yf, ylab, s, order, lo, 0, m_c, B, Yb, Lb, Sb, ahead)
            info[me] += 1
            while sync[0] < c and sync[1] == 0:  # the previous super-chunk's steps
                _yield()
            _yield()
            if sync[1] != 0:
                break
            for j in range((m_c + bs - 1) // bs):
                bi = c * spc + j
                if not _step(B, Yb, Lb, Sb, local, j * bs, min(bs, m_c - j * bs), head, K,
                             fit_intercept, alpha, theta, buf1, buf2, buf3, opt, hp, lr,
                             count0 + bi + 1, stats, ws1, ws2, g64, g, new_theta, new1, new2,
                             new3, cast, xb, w64, yb):
                    sync[3] = bi
                    _yield()
                    sync[1] = 1
                    return
            _yield()
            sync[0] = c + 1  # the next super-chunk's turn


def _optimizer_spec(optimizer: Any) -> tuple[int, list[float], tuple[str, ...]] | None:
    """Kernel code, hyperparameters and state keys of a supported optimizer, else None."""
    kind = type(optimizer)
    if kind not in _SUPPORTED_OPTIMIZERS:
        return None
    if isinstance(optimizer, Adam):
        hp = [optimizer.beta1, optimizer.beta2, optimizer.eps, optimizer.weight_decay,
              float(optimizer.decoupled_weight_decay), float(optimizer.amsgrad)]
        keys = ("mu", "nu", "nu_max") if optimizer.amsgrad else ("mu", "nu")
        return _ADAM, [float(v) for v in hp], keys
    if isinstance(optimizer, Momentum):
        hp = [optimizer.beta, optimizer.dampening, optimizer.weight_decay,
              float(optimizer.nesterov)]
        if optimizer.beta == 0.0:
            return _GD, [float(v) for v in hp], ()
        if optimizer.form == "lesson":
            return _LESSON, [float(v) for v in hp], ("velocity",)
        return _TORCH, [float(v) for v in hp], ("mu",)
    return _GD, [0.0, 0.0, 0.0, 0.0], ()


def unsupported_reason(problem: Any, optimizer: Any, config: Any,
                       step_callbacks: Any = ()) -> str | None:
    """Why the compiled epoch cannot run this problem (None: it can).

    Parameters
    ----------
    problem : a :class:`gdlab.core.loop.ModelProblem` of a GLM on an ArraySource
    optimizer : an optimizer object from :mod:`gdlab.core.optim`
    config : :class:`gdlab.core.loop.TrainConfig`
    step_callbacks : the loop's step callbacks (any disables the compiled epoch)
    """
    if not ENABLED:
        return "gdlab.engines.fastepoch.ENABLED is False"
    if not HAVE_NUMBA:
        return "numba is not installed"
    model = getattr(problem, "model", None)
    source = getattr(problem, "source", None)
    if not isinstance(model, GLM) or not isinstance(source, ArraySource):
        return "the problem is not a GLM on rows in memory (ArraySource)"
    X = source.X
    if not isinstance(X, np.ndarray):
        return "X is not a NumPy array"
    n = X.shape[0]
    if config.batch_size is None or config.batch_size >= n:
        return "full-batch descent (one step per epoch gains nothing)"
    if config.schedule_unit != "epoch":
        return "schedule_unit='step' (the learning rate changes within the epoch)"
    if step_callbacks:
        return "step callbacks need the Python loop"
    if model.layout != "rows":
        return "layout='columns'"
    if model.loss not in _HEADS or (model.loss != "cce" and model.n_outputs != 1):
        return f"loss {model.loss!r} with {model.n_outputs} outputs is not a canonical head"
    if X.ndim != 2 or X.dtype not in (np.float32, np.float64) or not X.flags.c_contiguous:
        return "X is not a C-contiguous float32/float64 array"
    y = np.asarray(source.y)
    if y.ndim != 1:
        return "targets are not 1-D (one-hot or multi-output)"
    if model.loss == "cce":
        if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(np.floor(y) == y)):
            return "softmax labels are not integers"
        if y.size and (y.min() < 0 or y.max() >= model.n_outputs):
            return "softmax labels outside [0, K)"
    w = source.sample_weight
    if w is not None:
        w = np.asarray(w)
        if w.ndim != 1 or w.shape[0] != n or not np.all(np.isfinite(w)) or np.any(w < 0):
            return "sample_weight is not 1-D, finite and >= 0"
    if _optimizer_spec(optimizer) is None:
        return f"optimizer {type(optimizer).__name__} has no compiled update"
    return None


_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _helper_pool() -> ThreadPoolExecutor:
    """The helper threads of staged epochs (created on first use, again after a fork).

    One thread per staged epoch running at the same time (fits run in several Python threads
    each get a helper; threads are started only when needed).
    """
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():  # a forked child has no pool threads
        _POOL = (os.getpid(), ThreadPoolExecutor(8, thread_name_prefix="gdlab-stage"))
    return _POOL[1]


class FastEpoch:
    """A compiled epoch for one problem and optimizer (made by :func:`plan`).

    Holds the targets, weights and identity order prepared once, so an epoch only pays for
    the kernel.
    """

    def __init__(self, problem: Any, optimizer: Any, config: Any) -> None:
        model, source = problem.model, problem.source
        self.X: Array = source.X
        n = self.X.shape[0]
        self.K = int(model.n_outputs)
        self.head = _HEADS[model.loss]
        self.fit_intercept = bool(model.fit_intercept)
        self.alpha = float(problem.alpha)
        self.bs = int(config.batch_size)
        self.n_params = int(model.n_params)
        y = np.asarray(source.y)
        if self.head == 2:
            self.yf = np.empty(0)
            self.ylab = np.ascontiguousarray(y.astype(np.int64))
        else:
            self.yf = np.ascontiguousarray(y, dtype=np.float64)
            self.ylab = np.empty(0, dtype=np.int64)
        w = source.sample_weight
        self.s = np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64)
        self.identity = np.arange(n, dtype=np.int64)
        spec = _optimizer_spec(optimizer)
        assert spec is not None
        self.opt, hp, self.keys = spec
        self.hp = np.asarray(hp, dtype=np.float64)
        row_bytes = max(1, self.X.shape[1]) * self.X.itemsize
        self.batch_bytes = self.bs * row_bytes
        #: batches per super-chunk of the staged path
        self.spc = max(1, STAGE_BYTES // self.batch_bytes)
        self._buffers: tuple[Array, Array, Array, Array] | None = None
        #: super-chunks staged (and stepped) by the helper and the calling thread, last epoch
        self.stage_info = np.zeros(2, dtype=np.int64)
        #: wall time of the last whole epoch on each compiled path (STAGED = "auto")
        self.seconds: dict[str, float | None] = {"staged": None, "direct": None}
        self._epochs_auto = 0

    def staged(self, shuffled: bool = True) -> bool:
        """Whether an epoch takes the staged path (see the module's ``STAGED`` switch)."""
        if not _HAVE_YIELD:  # the hand-off between the threads calls sched_yield()
            return False
        if STAGED == "always":
            return True
        if STAGED != "auto":
            return False
        return (shuffled and self.X.nbytes >= STAGED_MIN_BYTES
                and self.batch_bytes <= STAGE_MAX_BYTES
                and STAGE_THREADS >= 2 and (os.cpu_count() or 1) >= 2)

    def choose_staged(self, shuffled: bool = True) -> bool:
        """Whether the next epoch runs staged: :meth:`staged`, then under "auto" the faster.

        Under "auto" the first eligible epoch runs staged and the next direct; then each
        epoch takes the path with the shorter last epoch (``seconds``), except every
        ``STAGE_RETRY``-th, which re-times the other.
        """
        if not self.staged(shuffled):
            return False
        if STAGED == "always":
            return True
        t_staged, t_direct = self.seconds["staged"], self.seconds["direct"]
        if t_staged is None:
            return True
        if t_direct is None:
            return False
        self._epochs_auto += 1
        best = t_staged <= t_direct
        return (not best) if self._epochs_auto % STAGE_RETRY == 0 else best

    def _run_staged(self, args: tuple[Any, ...]) -> int:
        """Run :func:`_epoch_staged` here and on a helper thread; return the steps committed."""
        B, Yb, Lb, Sb = self._stage_buffers()
        # [super-chunks stepped, abort, next super-chunk to claim, first bad batch]
        sync = np.zeros(4, dtype=np.int64)
        self.stage_info[:] = 0
        kernel: Any = _epoch_staged
        helper = None
        if STAGE_THREADS >= 2:
            try:
                own = (self.spc, B[0], Yb[0], Lb[0], Sb[0], sync, self.stage_info, 0,
                       STAGE_PREFETCH_ROWS)
                helper = _helper_pool().submit(kernel, *args, *own)
            except RuntimeError:  # no new threads at interpreter shutdown: stage alone
                helper = None
        finished = False
        try:
            kernel(*args, self.spc, B[1], Yb[1], Lb[1], Sb[1], sync, self.stage_info, 1,
                   STAGE_PREFETCH_ROWS)
            finished = True
        finally:
            if not finished:
                sync[1] = 1  # an error here: the helper stops after its current super-chunk
            if helper is not None:
                helper.result()  # it may still be stepping the last super-chunk
        return int(sync[3]) if sync[1] else -(-self.X.shape[0] // self.bs)

    def _stage_buffers(self) -> tuple[Array, Array, Array, Array]:
        """The staging buffers (rows, y, labels, weights) of both threads, on first use."""
        if self._buffers is None:
            rows = min(self.spc * self.bs, self.X.shape[0])
            self._buffers = (
                np.empty((2, rows, self.X.shape[1]), dtype=self.X.dtype),
                np.empty((2, rows if self.yf.size else 0)),
                np.empty((2, rows if self.ylab.size else 0), dtype=np.int64),
                np.empty((2, rows if self.s.size else 0)),
            )
        return self._buffers

    def run_kernel(self, order: Array, theta: Array, bufs: list[Array], lr: float,
                   count0: int, stats: Array) -> int:
        """Run the compiled epoch over rows ``X[order]`` on theta and the optimizer buffers
        (updated in place); return the steps committed."""
        args = (self.X, self.yf, self.ylab, self.s, order, self.bs, self.head, self.K,
                self.fit_intercept, self.alpha, theta, bufs[0], bufs[1], bufs[2], self.opt,
                self.hp, lr, count0, stats)
        staged = self.choose_staged(order is not self.identity)
        t0 = time.perf_counter()
        if staged:
            done = self._run_staged(args)
        else:
            done = int(_epoch_nb(*args))
        if done == -(-self.X.shape[0] // self.bs):  # whole epochs only
            self.seconds["staged" if staged else "direct"] = time.perf_counter() - t0
        return done

    def run_epoch(self, state: Any, lr: float) -> bool:
        """Run the epoch from ``state.batch_index == 0`` and update ``state`` in place.

        Leaves exactly the fields the Python loop leaves after the same batches: theta,
        opt_state (new arrays, ``count``), step, batch_index, the epoch sums and
        last_finite_loss. When a step is non-finite, the state stops before it
        (``batch_index`` points at it) for the Python loop to redo and report.

        Returns
        -------
        bool
            False when this state cannot take the compiled path (nothing changed).
        """
        theta = state.theta
        if (state.batch_index != 0 or not isinstance(theta, np.ndarray)
                or theta.dtype != self.X.dtype or theta.shape != (self.n_params,)):
            return False
        bufs = []
        for key in self.keys:
            b = state.opt_state.get(key)
            if not isinstance(b, np.ndarray) or b.dtype != theta.dtype or b.shape != theta.shape:
                return False
            bufs.append(np.array(b, copy=True))
        empty = np.empty(0, dtype=theta.dtype)
        while len(bufs) < 3:
            bufs.append(empty)
        order = self.identity if state.order is None else np.ascontiguousarray(
            state.order, dtype=np.int64)
        new_theta = np.array(theta, copy=True)
        count0 = int(state.opt_state["count"])
        stats = np.array([state.epoch_loss_sum, state.epoch_weight,
                          state.epoch_grad_norm_sum, 0.0])
        done = self.run_kernel(order, new_theta, bufs, float(lr), count0, stats)
        if done == 0:
            return True  # the first step is bad: the Python loop redoes and reports it
        opt_state = {"count": np.asarray(count0 + done, dtype=np.int64)}
        for key, b in zip(self.keys, bufs, strict=False):
            opt_state[key] = b
        state.theta = new_theta
        state.opt_state = opt_state
        state.step += done
        state.batch_index = done
        state.epoch_loss_sum = float(stats[0])
        state.epoch_weight = float(stats[1])
        state.epoch_grad_norm_sum = float(stats[2])
        state.epoch_steps += done
        state.last_finite_loss = float(stats[3])
        return True


def plan(problem: Any, optimizer: Any, config: Any, step_callbacks: Any = ()) -> FastEpoch | None:
    """A :class:`FastEpoch` for this run, or None when the Python loop must run it.

    See :func:`unsupported_reason` for the conditions.
    """
    if unsupported_reason(problem, optimizer, config, step_callbacks) is not None:
        return None
    return FastEpoch(problem, optimizer, config)
