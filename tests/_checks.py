"""Helpers shared by the tests: comparing (loss, grad_W, grad_b) triples, timing work."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

TOL = {np.float64: 1e-12, np.float32: 2e-5}


def rel(a, b) -> float:
    """Largest absolute difference relative to the largest entry of b."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def close(got, ref, dtype) -> None:
    """A kernel's (loss, grad_W, grad_b) equals the reference to TOL[dtype], in X's dtype."""
    tol = TOL[dtype]
    assert np.isfinite(got[0])
    assert abs(got[0] - ref[0]) <= tol * max(abs(ref[0]), 1e-300)
    assert rel(got[1], ref[1]) <= tol
    assert rel(got[2], ref[2]) <= tol + (tol if np.ndim(ref[2]) == 0 else 0)
    assert np.asarray(got[1]).dtype == dtype
    if np.ndim(got[2]) > 0:
        assert np.asarray(got[2]).dtype == dtype


def on_one_thread(fn: Callable[[], Any]) -> Any:
    """fn() with numba limited to one thread (restored afterwards): for determinism tests."""
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        return fn()
    finally:
        numba.set_num_threads(before)


def assert_chunk_sums(P, X64, y, w, b, s, head, tol, msg="") -> None:
    """A kernel's per-chunk partial sums P, shape (nchunks, n + 2) (gradient over w, over b,
    loss), against the plain formula on each chunk's rows ``c * m // nchunks`` onwards:
    identity + MSE (head 0) or sigmoid + BCE (head 1), weighted by s (empty: unweighted)."""
    import pytest
    from scipy.special import expit

    m, n = X64.shape
    nchunks = P.shape[0]
    sw = s if s.size else np.ones(m)
    for c in range(nchunks):
        r = slice(c * m // nchunks, (c + 1) * m // nchunks)
        z = X64[r] @ w + b
        if head:
            d = sw[r] * (expit(z) - y[r])
            loss = np.sum(sw[r] * (np.logaddexp(0.0, z) - y[r] * z))
        else:
            d = sw[r] * 2.0 * (z - y[r])
            loss = np.sum(sw[r] * (z - y[r]) ** 2)
        grad = X64[r].T @ d
        scale = np.max(np.abs(grad))
        np.testing.assert_allclose(P[c, :n], grad, rtol=0, atol=tol * scale,
                                   err_msg=f"{msg} head={head} chunk={c}")
        assert P[c, n] == pytest.approx(d.sum(), rel=tol, abs=tol * scale)
        assert P[c, n + 1] == pytest.approx(loss, rel=tol)


@contextmanager
def thread_seconds() -> Iterator[Callable[[], float]]:
    """CPU seconds of the calling thread inside the block, with the garbage collector paused.

    For bounds on work done in the calling thread (parsing, refusing bad input): wall-clock and
    process time also count other processes, other threads of the test process and collections
    of the whole session's heap, none of which is that work.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    t0 = time.thread_time()
    t1: list[float] = []
    try:
        yield lambda: (t1[0] if t1 else time.thread_time()) - t0
    finally:
        t1.append(time.thread_time())
        if was_enabled:
            gc.enable()
