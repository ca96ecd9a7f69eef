"""Batch sources: where the loop's batches come from.

The loop never indexes the data itself. At the start of an epoch it asks the source for the
epoch's order (:meth:`ArraySource.epoch_order`, drawn from the run's generator and kept in
the checkpointable :class:`gdlab.core.loop.TrainState`), then for each batch the rows of that
batch (:meth:`ArraySource.batch_rows`) and the loss and gradient over them
(:meth:`ArraySource.loss_and_grad`), given the function that evaluates the model on rows.

:class:`ArraySource` holds rows in memory. A source over row blocks that live elsewhere (a
Dask collection) implements the same four methods: its order is an array too, and its
``loss_and_grad`` evaluates the function on each block with ``reduction="sum"`` and reduces
the partial sums.

``batch_size`` is resolved here and only here (:func:`resolve_batch_size`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from gdlab.core.shuffle import permutation

Array = NDArray[Any]
#: ``fn(theta, X, y, sample_weight) -> (mean loss, gradient)`` over the given rows
DataTerm = Callable[[Array, Array, Array, "Array | None"], tuple[float, Array]]

__all__ = ["DEFAULT_BATCH_SIZE", "ArraySource", "BatchSource", "RowOrder", "resolve_batch_size"]

#: rows per batch for ``batch_size="auto"``
DEFAULT_BATCH_SIZE = 256
#: up to this many rows, batch_size='auto' is the full batch
FULL_BATCH_ROWS = 10_000


def resolve_batch_size(batch_size: int | str | None, n_samples: int) -> int | None:
    """Rows per step: None for full batch (also when ``batch_size >= n_samples``), else k.

    ``"auto"`` is the full batch up to ``FULL_BATCH_ROWS`` rows (each step is then cheap and
    free of sampling noise, so a constant rate converges), else ``DEFAULT_BATCH_SIZE`` rows;
    1 is stochastic descent.
    """
    if batch_size == "auto":
        batch_size = n_samples if n_samples <= FULL_BATCH_ROWS else DEFAULT_BATCH_SIZE
    if batch_size is None or int(batch_size) >= n_samples:
        return None
    return int(batch_size)


class BatchSource(Protocol):
    """What the loop asks of its data (see the module docstring)."""

    @property
    def n_samples(self) -> int:
        """Number of rows in an epoch."""
        ...

    def n_batches(self, batch_size: int | None) -> int:
        """Steps per epoch for a resolved batch size."""
        ...

    def epoch_order(self, rng: np.random.Generator, batch_size: int | None,
                    shuffle: bool) -> Array | None:
        """The order of this epoch's rows (None: the stored order)."""
        ...

    def batch_rows(self, order: Array | None, index: int, batch_size: int | None
                   ) -> Array | None:
        """Rows of batch ``index`` of the epoch (None: every row)."""
        ...

    def n_rows(self, rows: Array | None) -> int:
        """How many rows a batch holds."""
        ...

    def loss_and_grad(self, fn: DataTerm, theta: Array, rows: Array | None
                      ) -> tuple[float, Array] | None:
        """``fn`` over the batch's rows; None when the batch carries no weight."""
        ...


class RowOrder(abc.ABC):
    """The batch arithmetic of a source whose epoch order is an array of row indices (or
    None: rows in their stored order): batch ``index`` is rows ``index * k`` to
    ``(index + 1) * k`` of the order. :class:`ArraySource` and the Dask source share it."""

    @property
    @abc.abstractmethod
    def n_samples(self) -> int:
        """How many rows the source holds (each source says)."""

    def batch_rows(self, order: Array | None, index: int, batch_size: int | None
                   ) -> Array | None:
        if batch_size is None:
            return None
        lo, hi = index * batch_size, (index + 1) * batch_size
        if order is None:
            return np.arange(lo, min(hi, self.n_samples))
        return order[lo:hi]

    def n_rows(self, rows: Array | None) -> int:
        return self.n_samples if rows is None else len(rows)


class ArraySource(RowOrder):
    """Rows held in memory: X of shape (n_samples, n_features), targets y of shape
    (n_samples,) or (n_samples, K), optional sample_weight of shape (n_samples,)."""

    def __init__(self, X: Array, y: Array, sample_weight: Array | None = None) -> None:
        self.X, self.y, self.sample_weight = X, y, sample_weight

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def n_batches(self, batch_size: int | None) -> int:
        n = self.n_samples
        return 1 if batch_size is None or batch_size >= n else -(-n // batch_size)

    def epoch_order(self, rng: np.random.Generator, batch_size: int | None,
                    shuffle: bool) -> Array | None:
        """A uniform permutation of the rows from ``rng`` when shuffling mini-batches."""
        if shuffle and batch_size is not None:
            return permutation(rng, self.n_samples)
        return None

    def rows(self, rows: Array | None) -> tuple[Array, Array, Array | None]:
        """(X, y, sample_weight) of the given rows (views of everything for None)."""
        if rows is None:
            return self.X, self.y, self.sample_weight
        w = None if self.sample_weight is None else self.sample_weight[rows]
        return self.X[rows], self.y[rows], w

    def loss_and_grad(self, fn: DataTerm, theta: Array, rows: Array | None
                      ) -> tuple[float, Array] | None:
        X, y, w = self.rows(rows)
        if w is not None and rows is not None and not w.any():
            return None  # a batch of zero-weight rows carries no information
        return fn(theta, X, y, w)
