"""What runs on a Dask worker: the data term of one row block as sums, and their addition.

These functions are sent to the workers by reference, so they live in a package module that
every worker imports (a script's local function could not be unpickled there).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]
A = TypeVar("A", bound="Array | None")

#: (loss sum, gradient sum, weight sum) of some rows
Sums = tuple[float, Array, float]

__all__ = ["BlockRecipe", "BlockTerm", "add_sums", "aligned", "block_logits", "block_sums",
           "made_block_sums", "nonfinite", "one_kernel_thread", "take_rows"]


def aligned(a: A) -> A:
    """``a``, or a copy of it when its data is not aligned to its item size.

    Arrays deserialized on a worker can start at any byte (measured: float64 blocks at 11, 41
    and 42 mod 64); NumPy then takes its unaligned loops, whose sums round differently, and
    the same block would give another gradient on another worker.
    """
    if a is None or a.flags.aligned:
        return a
    return cast(A, np.array(a))


class BlockTerm:
    """The mean data term of ``model`` on rows, by ``engine`` when it serves the case (the
    fused kernels), by the model's formula otherwise: ``ModelProblem.data_term`` without the
    problem (which holds the source and cannot travel to a worker)."""

    def __init__(self, model: Any, engine: Any = None) -> None:
        self.model, self.engine = model, engine

    def __call__(self, theta: Array, X: Array, y: Array, w: Array | None
                 ) -> tuple[float, Array]:
        if self.engine is not None:
            out = self.engine.loss_and_grad(self.model, theta, X, y, w)
            if out is not None:
                return out
        return self.model.loss_and_grad_checked(theta, X, y, sample_weight=w)


@contextlib.contextmanager
def one_kernel_thread() -> Iterator[None]:
    """Compiled kernels on the calling thread only, for the duration.

    A block is the unit of parallelism (one per worker thread); a kernel that also spreads
    over numba's threads oversubscribes the cores, and a parallel region waits for its
    slowest thread (measured on 2 cores, 2 worker processes, 125,000 x 50 logistic blocks:
    13-40 ms a block with numba's 2 threads, 2.5-6 ms with one). The sums do not change: a
    kernel's chunks depend on X's shape only. numba's thread count is per thread; a process
    that has not imported numba runs no kernel.
    """
    if sys.modules.get("numba") is None:  # not imported, or blocked (GDLAB_NO_NUMBA=1)
        yield
        return
    import numba  # waits while another of the worker's threads is still importing it

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def block_sums(term: Any, theta: Array, X: Array, y: Array, w: Array | None) -> Sums:
    """Loss and gradient sums over one block and its total weight (rows without weights).

    ``term`` returns the weighted mean over the block; times the block's weight it is the
    block's share of the sums that, added over blocks and divided by the total weight, give
    the mean over all rows. A block whose weights are all zero contributes nothing.
    """
    X, y, w = aligned(X), aligned(y), aligned(w)
    total = float(X.shape[0]) if w is None else float(np.sum(w))
    if total == 0.0:
        return 0.0, np.zeros_like(theta), 0.0
    with np.errstate(over="ignore", invalid="ignore"), one_kernel_thread():
        loss, grad = term(theta, X, y, w)
        return float(loss) * total, np.asarray(grad) * total, total


class BlockRecipe:
    """How to make one block of a collection: the block's task graph (culled to it) and its
    key, run by dask's synchronous scheduler in the task that uses the block."""

    __slots__ = ("graph", "key")

    def __init__(self, graph: dict[Any, Any], key: Any) -> None:
        self.graph, self.key = graph, key

    def __call__(self) -> Array:
        from dask.local import get_sync

        return np.asarray(get_sync(self.graph, self.key))


def made_block_sums(term: Any, theta: Array, recipe: BlockRecipe, y: Array, w: Array | None
                    ) -> Sums:
    """:func:`block_sums` of a block made by ``recipe`` in this task."""
    return block_sums(term, theta, recipe(), y, w)


def add_sums(a: Sums, b: Sums) -> Sums:
    """The sums of two sets of rows."""
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def block_logits(model: Any, theta: Array, X: Array) -> Array:
    """The model's logits on one block (for validation scores)."""
    return np.asarray(model.logits(theta, aligned(X)))


def nonfinite(X: Array) -> tuple[str, int, int] | None:
    """(``'NaN'`` or ``'infinity'``, row, column) of the first non-finite value of a block."""
    if X.dtype.kind not in "fc" or np.isfinite(X).all():
        return None
    r, c = np.argwhere(~np.isfinite(X))[0]
    return ("NaN" if np.isnan(X[r, c]) else "infinity"), int(r), int(c)


def take_rows(rows: Array, X: Array, y: Array, w: Array | None
              ) -> tuple[Array, Array, Array | None]:
    """Some rows (indices inside the block) of one block's X, y and w."""
    return X[rows], y[rows], (None if w is None else w[rows])
