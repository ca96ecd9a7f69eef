"""Compiled mini-batch epochs: every optimizer step of one epoch in one numba call.

The training loop (:func:`gdlab.train.run`) spends ~150 us of Python per mini-batch step
(gather ``X[idx]``, loss and gradient, optimizer update), which dominates a 256-row batch of
100 features. For the common case, a :class:`~gdlab.train.GLMProblem` with a canonical head
(identity + MSE, sigmoid + BCE with one output, softmax + CCE on integer labels) trained by
:class:`~gdlab.optim.GD`, :class:`~gdlab.optim.Momentum` (both forms, Nesterov, dampening,
weight decay) or :class:`~gdlab.optim.Adam` / :class:`~gdlab.optim.AdamW` (amsgrad) with one
learning rate per epoch, this module runs the whole epoch in compiled code:

- rows are read through the epoch's permutation (``state.order``, drawn in Python by
  ``state.rng.permutation(n)`` exactly as the loop does, so checkpoints and resume are
  unchanged); X is never copied;
- each batch computes the same loss and gradient as ``GLM.loss_and_grad_checked`` (mean over
  the batch, weighted mean ``sum(s_i l_i) / sum(s_i)`` with sample weights, a zero step for a
  batch whose weights are all zero, ``alpha / 2 ||W||^2`` with the bias unpenalized, a zero
  bias gradient without an intercept) and the same update as :mod:`gdlab.optim`, operation
  by operation, so float64 results agree with the Python loop to rounding (~1e-15 per step);
- the epoch statistics the loop records (sum of loss * rows, rows, sum of gradient norms,
  steps, last finite loss) are accumulated in the same order.

Divergence: the kernel checks the loss, the gradient and the new parameters at every step and
stops *before* committing a step that is non-finite. The state then holds everything up to
that step (``batch_index`` points at it) and the Python loop continues from there: it
recomputes that step and raises its :class:`~gdlab.train.DivergenceError` with the same
epoch, step, learning rate and last finite loss as a pure Python run.

Anything else (other losses, layouts, optimizers, schedules per step, step callbacks, a
resumed mid-epoch state, X not C-contiguous float32/float64, theta of another dtype) uses the
Python loop. Set ``gdlab.fastepoch.ENABLED = False`` to force the Python loop everywhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.optim import GD, SGD, Adam, AdamW, Momentum, Nesterov

try:  # numba is a declared dependency; without it every epoch takes the Python loop
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    HAVE_NUMBA = False

__all__ = ["ENABLED", "HAVE_NUMBA", "FastEpoch", "plan", "unsupported_reason"]

Array = NDArray[Any]

#: Module switch: False sends every epoch through the Python loop (the reference path).
ENABLED = True

_HEADS = {"mse": 0, "bce": 1, "cce": 2}
# optimizer codes inside the kernel
_GD, _LESSON, _TORCH, _ADAM = 0, 1, 2, 3
_SUPPORTED_OPTIMIZERS = (GD, Momentum, Nesterov, SGD, Adam, AdamW)


if HAVE_NUMBA:
    # Feature loops carry 'reassoc' + 'contract' only (vectorized dot products and FMAs, as in
    # gdlab.kernels); no finite-math flags, so NaN/inf keep IEEE semantics for the divergence
    # checks. The loss heads and the optimizer arithmetic are compiled strictly.
    _VEC = {"reassoc", "contract"}

    @njit(cache=True, fastmath=_VEC)
    def _batch1(X, order, lo, m, w, b, head, yf, s, total, weighted, g):  # type: ignore[no-untyped-def]
        """Loss sum and dL/dz sum of one batch for one output; g = X_batch^T dL/dz.

        One pass: each row's logit, its point-wise loss and derivative, and its share of the
        gradient while the row is in L1. Four rows at a time keep four row loads in flight
        (hiding the latency of the random row gathers) and touch g once per four rows.
        Returns (sum_i c_i l_i or sum_i l_i without weights, sum_i dz_i).
        """
        n = X.shape[1]
        inv_m = 1.0 / m
        g[:] = 0.0
        loss = 0.0
        gb = 0.0
        i = 0
        while i < m:
            q = min(4, m - i)
            # rows as 1-D views: indices from range() are known to be >= 0, so the inner
            # loops vectorize (no wraparound test per element)
            x0 = X[order[lo + i]]
            x1 = X[order[lo + i + min(1, q - 1)]]
            x2 = X[order[lo + i + min(2, q - 1)]]
            x3 = X[order[lo + i + min(3, q - 1)]]
            a0 = a1 = a2 = a3 = 0.0
            for j in range(n):
                wj = np.float64(w[j])
                a0 += np.float64(x0[j]) * wj
                a1 += np.float64(x1[j]) * wj
                a2 += np.float64(x2[j]) * wj
                a3 += np.float64(x3[j]) * wj
            d0 = d1 = d2 = d3 = 0.0
            for u in range(q):
                r = order[lo + i + u]
                zi = (a0 if u == 0 else a1 if u == 1 else a2 if u == 2 else a3) + b
                yi = yf[r]
                if head == 0:
                    ri = zi - yi
                    li = ri * ri
                    di = 2.0 * ri
                else:
                    li, di = _bce_point(zi, yi)
                c = s[r] / total if weighted else inv_m
                dzi = di * c
                loss += li * c if weighted else li
                gb += dzi
                if u == 0:
                    d0 = dzi
                elif u == 1:
                    d1 = dzi
                elif u == 2:
                    d2 = dzi
                else:
                    d3 = dzi
            for j in range(n):
                g[j] += (d0 * np.float64(x0[j]) + d1 * np.float64(x1[j])
                         + d2 * np.float64(x2[j]) + d3 * np.float64(x3[j]))
            i += q
        return loss, gb

    @njit(cache=True, fastmath=_VEC)
    def _logits_k(X, order, lo, m, W, Z):  # type: ignore[no-untyped-def]
        """Z[i, :] = X[order[lo + i]] @ W for K outputs (W of shape (n, K), row-major)."""
        n, K = W.shape
        for i in range(m):
            x = X[order[lo + i]]  # a row view: the loops below vectorize
            for k in range(K):
                Z[i, k] = 0.0
            for j in range(n):
                xj = np.float64(x[j])
                for k in range(K):
                    Z[i, k] += xj * np.float64(W[j, k])

    @njit(cache=True, fastmath=_VEC)
    def _grad_k(X, order, lo, m, dZ, G):  # type: ignore[no-untyped-def]
        """G = X_batch^T dZ, shape (n, K)."""
        n, K = G.shape
        G[:, :] = 0.0
        for i in range(m):
            x = X[order[lo + i]]
            for j in range(n):
                xj = np.float64(x[j])
                for k in range(K):
                    G[j, k] += xj * dZ[i, k]

    @njit(cache=True)
    def _bce_point(z, yi):  # type: ignore[no-untyped-def]
        """logaddexp(0, z) - y z and expit(z) - y, as NumPy / SciPy evaluate them."""
        if z > 0.0:
            soft = z + math.log1p(math.exp(-z))
        elif z < 0.0:
            soft = math.log1p(math.exp(z))
        else:
            soft = math.log(2.0)
        if z >= 0.0:
            p = 1.0 / (1.0 + math.exp(-z))
        else:
            e = math.exp(z)
            p = e / (1.0 + e)
        return soft - yi * z, p - yi

    @njit(cache=True)
    def _epoch_nb(X, yf, ylab, s, order, bs, head, K, fit_intercept, alpha,  # type: ignore[no-untyped-def]
                  theta, buf1, buf2, buf3, opt, hp, lr, count0, stats):
        """Run every batch of one epoch; return the number of steps committed.

        theta and the optimizer buffers (buf1, buf2, buf3: momentum buffer or Adam's mu, nu,
        nu_max) are updated in place. stats = [sum loss * rows, rows, sum |g|, last loss] is
        accumulated. A step whose loss, gradient or new parameters are non-finite is not
        committed and the kernel returns its index.
        """
        n_rows, n = X.shape
        weighted = s.shape[0] > 0
        P = theta.shape[0]
        nK = n * K
        n_batches = (n_rows + bs - 1) // bs
        Z = np.empty((bs, K))
        dZ = np.empty((bs, K))
        g64 = np.empty(nK)
        g = np.empty(P, dtype=theta.dtype)        # the gradient in theta's dtype, as Python has it
        new_theta = np.empty_like(theta)
        new1 = np.empty_like(buf1)
        new2 = np.empty_like(buf2)
        new3 = np.empty_like(buf3)
        cast = np.empty(1, dtype=theta.dtype)
        for bi in range(n_batches):
            lo = bi * bs
            m = min(bs, n_rows - lo)
            # ---- loss and gradient (GLMProblem.loss_and_grad) ---------------------------
            total = 0.0
            if weighted:
                for i in range(m):
                    total += s[order[lo + i]]
            zero_batch = False
            if weighted:
                zero_batch = True
                for i in range(m):
                    if s[order[lo + i]] != 0.0:
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
                    _logits_k(X, order, lo, m, W, Z)
                    for i in range(m):
                        mx = -np.inf
                        for k in range(K):
                            Z[i, k] += np.float64(theta[nK + k])
                            if Z[i, k] > mx:
                                mx = Z[i, k]
                        se = 0.0
                        for k in range(K):
                            dZ[i, k] = math.exp(Z[i, k] - mx)
                            se += dZ[i, k]
                        yi = ylab[order[lo + i]]
                        li = mx + math.log(se) - Z[i, yi]
                        c = s[order[lo + i]] / total if weighted else inv_m
                        for k in range(K):
                            dZ[i, k] = (dZ[i, k] / se - (1.0 if k == yi else 0.0)) * c
                        loss += li * c if weighted else li
                    G = g64.reshape((n, K))
                    _grad_k(X, order, lo, m, dZ, G)
                    for k in range(K):
                        acc = 0.0
                        for i in range(m):
                            acc += dZ[i, k]
                        g[nK + k] = acc
                else:
                    loss, g_b = _batch1(X, order, lo, m, theta, np.float64(theta[n]), head,
                                        yf, s, total, weighted, g64)
                    g[n] = g_b
                if not weighted:
                    loss = loss * inv_m
                if not fit_intercept:
                    for k in range(K):
                        g[nK + k] = 0.0
                if alpha != 0.0:
                    ww = 0.0
                    for p in range(nK):
                        ww += np.float64(theta[p]) * np.float64(theta[p])
                    loss += 0.5 * alpha * ww
                    for p in range(nK):
                        g[p] = g64[p] + alpha * theta[p]
                else:
                    for p in range(nK):
                        g[p] = g64[p]
            cast[0] = loss
            ok = math.isfinite(cast[0])
            gsq = 0.0
            for p in range(P):
                gp = g[p]
                if not math.isfinite(gp):
                    ok = False
                gsq += np.float64(gp) * np.float64(gp)
            if not ok:
                return bi
            # ---- optimizer update (gdlab.optim, same operation order) ------------------
            t = count0 + bi + 1
            if opt == _ADAM:
                beta1, beta2, eps, wd = hp[0], hp[1], hp[2], hp[3]
                decoupled, amsgrad = hp[4] != 0.0, hp[5] != 0.0
                w1 = 1.0 - beta1
                step_size = lr / (1.0 - beta1 ** np.float64(t))
                bc2_sqrt = (1.0 - beta2 ** np.float64(t)) ** 0.5
                for p in range(P):
                    gp = g[p]
                    if wd != 0.0 and not decoupled:
                        gp = gp + wd * theta[p]
                    mu = buf1[p]
                    if w1 < 0.5:
                        mu_new = mu + w1 * (gp - mu)
                    else:
                        mu_new = gp - (gp - mu) * (1.0 - w1)
                    nu_new = beta2 * buf2[p] + (1.0 - beta2) * gp * gp
                    new1[p] = mu_new
                    new2[p] = nu_new
                    if amsgrad:
                        nm = buf3[p]
                        if not nu_new <= nm:  # np.maximum: the larger, NaN propagates
                            nm = nu_new
                        new3[p] = nm
                        denom = math.sqrt(new3[p]) / bc2_sqrt + eps
                    else:
                        denom = math.sqrt(new2[p]) / bc2_sqrt + eps
                    upd = -step_size * new1[p] / denom
                    if wd != 0.0 and decoupled:
                        upd = -lr * wd * theta[p] + upd
                    new_theta[p] = theta[p] + upd
            else:
                beta, damp, wd, nesterov = hp[0], hp[1], hp[2], hp[3] != 0.0
                for p in range(P):
                    gp = g[p]
                    if wd != 0.0:
                        gp = gp + wd * theta[p]
                    if opt == _GD:
                        upd = -lr * gp
                    elif opt == _LESSON:
                        v = beta * buf1[p] - lr * gp
                        new1[p] = v
                        upd = beta * new1[p] - lr * gp if nesterov else new1[p]
                    else:
                        if t == 1:
                            new1[p] = gp
                        else:
                            new1[p] = beta * buf1[p] + (1.0 - damp) * gp
                        if nesterov:
                            upd = -lr * (gp + beta * new1[p])
                        else:
                            upd = -lr * new1[p]
                    new_theta[p] = theta[p] + upd
            for p in range(P):
                if not math.isfinite(new_theta[p]):
                    return bi
            # ---- commit --------------------------------------------------------------
            theta[:] = new_theta
            if opt != _GD:
                buf1[:] = new1
            if opt == _ADAM:
                buf2[:] = new2
                if buf3.shape[0] > 0:
                    buf3[:] = new3
            lf = np.float64(cast[0])
            stats[0] += lf * m
            stats[1] += m
            stats[2] += math.sqrt(gsq)
            stats[3] = lf
        return n_batches


def _optimizer_spec(optimizer: Any) -> tuple[int, list[float], tuple[str, ...]] | None:
    """Kernel code, hyperparameters and state keys of a supported optimizer, else None."""
    kind = type(optimizer)
    if kind not in _SUPPORTED_OPTIMIZERS:
        return None
    if isinstance(optimizer, Adam):
        hp = [optimizer.beta1, optimizer.beta2, optimizer.eps, optimizer.weight_decay,
              float(optimizer._decoupled), float(optimizer.amsgrad)]
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
    problem : a :class:`gdlab.train.GLMProblem` (anything else is unsupported)
    optimizer : an optimizer object from :mod:`gdlab.optim`
    config : :class:`gdlab.train.TrainConfig`
    step_callbacks : the loop's step callbacks (any disables the compiled epoch)
    """
    if not ENABLED:
        return "gdlab.fastepoch.ENABLED is False"
    if not HAVE_NUMBA:
        return "numba is not installed"
    model = getattr(problem, "model", None)
    X = getattr(problem, "X", None)
    if model is None or not isinstance(X, np.ndarray):
        return "the problem is not a GLMProblem on a NumPy array"
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
    y = np.asarray(problem.y)
    if y.ndim != 1:
        return "targets are not 1-D (one-hot or multi-output)"
    if model.loss == "cce":
        if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(np.floor(y) == y)):
            return "softmax labels are not integers"
        if y.size and (y.min() < 0 or y.max() >= model.n_outputs):
            return "softmax labels outside [0, K)"
    w = problem.sample_weight
    if w is not None:
        w = np.asarray(w)
        if w.ndim != 1 or w.shape[0] != n or not np.all(np.isfinite(w)) or np.any(w < 0):
            return "sample_weight is not 1-D, finite and >= 0"
    if _optimizer_spec(optimizer) is None:
        return f"optimizer {type(optimizer).__name__} has no compiled update"
    return None


class FastEpoch:
    """A compiled epoch for one problem and optimizer (made by :func:`plan`).

    Holds the targets, weights and identity order prepared once, so an epoch only pays for
    the kernel.
    """

    def __init__(self, problem: Any, optimizer: Any, config: Any) -> None:
        model = problem.model
        self.X: Array = problem.X
        n = self.X.shape[0]
        self.K = int(model.n_outputs)
        self.head = _HEADS[model.loss]
        self.fit_intercept = bool(model.fit_intercept)
        self.alpha = float(problem.alpha)
        self.bs = int(config.batch_size)
        self.n_params = int(model.n_params)
        y = np.asarray(problem.y)
        if self.head == 2:
            self.yf = np.empty(0)
            self.ylab = np.ascontiguousarray(y.astype(np.int64))
        else:
            self.yf = np.ascontiguousarray(y, dtype=np.float64)
            self.ylab = np.empty(0, dtype=np.int64)
        w = problem.sample_weight
        self.s = np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64)
        self.identity = np.arange(n, dtype=np.int64)
        spec = _optimizer_spec(optimizer)
        assert spec is not None
        self.opt, hp, self.keys = spec
        self.hp = np.asarray(hp, dtype=np.float64)

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
        done = int(_epoch_nb(self.X, self.yf, self.ylab, self.s, order, self.bs, self.head,
                             self.K, self.fit_intercept, self.alpha, new_theta, bufs[0],
                             bufs[1], bufs[2], self.opt, self.hp, float(lr), count0, stats))
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
