"""Row blocks of Dask arrays as a batch source (:class:`gdlab.core.sources.BatchSource`).

Blocks are the row chunks of X (one chunk across the columns); y and the sample weights are
cut at the same rows. The boundaries come from the collection's chunks, never from the number
of workers, so every result below is the same on any number of workers.

Full batch (``rows=None``): one task per block computes that block's loss and gradient sums
where the block lives (:func:`gdlab.engines.dask.blocks.block_sums`, with the fused kernels
where the engine has them), the sums are added in a fixed binary tree by block index
(0+1, 2+3, ...; then those pairs, and so on), and the total is divided by the total weight
once. On a distributed cluster the persisted blocks are held as futures and a step is one
message to the scheduler: a task per block with the parameters as its argument (scattered to
the workers instead, once, when they are large); the block sums come back to the driver and
are added there in the same tree (on the cluster when they are large). With the threaded
scheduler a step is one task graph. Blocks recomputed at every pass (``persist=False``, e.g.
files read and encoded) are made inside the task that sums them
(:class:`~gdlab.engines.dask.blocks.BlockRecipe`), which runs where y's block is kept.

Mini-batch: :meth:`DaskSource.epoch_order` draws, from the run's generator, an order of the
blocks and then an order of the rows inside each block, block after block; batches are
consecutive runs of that order, so a batch holds rows of one block (or two, where a block
ends). This is not a uniform shuffle of all rows: rows of a block stay together within an
epoch. The order is an array of row indices, kept in the checkpointed
:class:`gdlab.core.loop.TrainState` like the in-memory order. A block's rows are fetched to
the driver when a batch first needs them (at most two blocks are held there), and the step is
computed there by the same function as in memory.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core.shuffle import permutation
from gdlab.core.sources import RowOrder
from gdlab.engines.dask.blocks import (
    BlockRecipe,
    BlockTerm,
    Sums,
    add_sums,
    aligned,
    block_logits,
    block_sums,
    made_block_sums,
    nonfinite,
    take_rows,
)

Array = NDArray[Any]

__all__ = ["GATHER_BYTES", "SCATTER_BYTES", "DaskSource", "default_scheduler", "is_dask_collection",
           "tree_reduce"]

#: parameters whose copies in a step's tasks (one per block) would exceed this are scattered
#: to the workers instead
SCATTER_BYTES = 1 << 20
#: block sums are added on the driver when all of them together are at most this large (one
#: gather per step, no transfers between workers), in the same tree on the cluster otherwise
GATHER_BYTES = 64 << 20


def is_dask_collection(obj: Any) -> bool:
    """True for a Dask array, DataFrame or Series (checked without importing dask)."""
    return type(obj).__module__.split(".")[0] == "dask" and hasattr(obj, "__dask_graph__")


def tree_reduce(parts: list[Any], add: Any) -> Any:
    """``add`` over ``parts`` in a fixed binary tree by position: (0+1)+(2+3), ..."""
    while len(parts) > 1:
        parts = [add(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _client_of(scheduler: Any) -> Any:
    """The distributed Client behind a scheduler (a ``get`` function or a Client), or None."""
    owner = getattr(scheduler, "__self__", scheduler)
    if type(owner).__name__ == "Client" and type(owner).__module__.startswith("distributed"):
        return owner
    return None


@contextlib.contextmanager
def default_scheduler(scheduler: Any) -> Iterator[None]:
    """``scheduler`` (a ``get`` function, a Client or a Client's ``get``) as Dask's default
    inside the block. A Client is made current rather than put in dask's config: a nanny
    pickles the config to restart a killed worker, and a Client cannot be pickled."""
    import dask

    client = _client_of(scheduler)
    if client is None:
        with dask.config.set(scheduler=scheduler):
            yield
    else:
        with dask.config.set(scheduler="dask.distributed"), client.as_current():
            yield


class DaskSource(RowOrder):
    """Rows in blocks of Dask arrays: X of shape (n_samples, n_features), y of shape
    (n_samples,) or (n_samples, K), sample_weight of shape (n_samples,) or None.

    Parameters
    ----------
    X, y, sample_weight : dask arrays with known chunk sizes; y and sample_weight are cut at
        X's row chunks.
    persist : bool, default=True
        Keep the blocks in the workers' memory (computed once). False recomputes X's blocks
        from the collection's graph at every pass (data larger than the cluster's memory)
        and keeps only y and sample_weight (a few bytes a row).
    scheduler : None, a distributed Client, or a name ('threads', 'sync')
        None: Dask's current default (the active Client if there is one).
    block_names : list of str, optional
        What to call each block in error messages (its file, for data read from files).
    """

    def __init__(self, X: Any, y: Any, sample_weight: Any = None, *, persist: bool = True,
                 scheduler: Any = None, block_names: list[str] | None = None) -> None:
        import dask
        from dask.base import get_scheduler

        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D dask array for X, got {X.ndim}-D of shape "
                             f"{X.shape}. Reshape it or pass a dask DataFrame.")
        if any(np.isnan(c) for c in X.chunks[0]):
            raise ValueError("The row chunk sizes of X are unknown. Call "
                             "X.compute_chunk_sizes() (or to_dask_array(lengths=True) on a "
                             "DataFrame) first.")
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        rows = X.chunks[0]
        y = y.rechunk({0: rows, **({1: -1} if y.ndim == 2 else {})})
        if sample_weight is not None:
            sample_weight = sample_weight.rechunk({0: rows})
        self._get = get_scheduler(scheduler=scheduler, collections=[X])
        self.client = _client_of(scheduler) or _client_of(self._get)
        # blocks computed on the workers, in aligned memory (see blocks.aligned)
        y = y.map_blocks(aligned, dtype=y.dtype)
        if sample_weight is not None:
            sample_weight = sample_weight.map_blocks(aligned, dtype=sample_weight.dtype)
        if persist:
            X = X.map_blocks(aligned, dtype=X.dtype)
            X, y, sample_weight = dask.persist(X, y, sample_weight, scheduler=self._get)
        else:
            y, sample_weight = dask.persist(y, sample_weight, scheduler=self._get)
        if self.client is not None:
            # on a cluster persist returns at once: the blocks are made before the first step,
            # whose time is then the step's own, as every later one's is
            from distributed import futures_of, wait

            with self.client.as_current():  # wait() asks the current Client
                wait(futures_of([c for c in (X, y, sample_weight) if c is not None]))
        self.X, self.y, self.sample_weight = X, y, sample_weight
        self.bounds = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        # X's graph fused into one task per block (when X is recomputed at every pass, e.g.
        # a file read and encoded); y and w are persisted above, so no task of X's graph is
        # shared with theirs and computed twice
        self._dx = list(X.to_delayed().ravel())
        self._dy = list(y.to_delayed().ravel())
        self._dw = (list(sample_weight.to_delayed().ravel()) if sample_weight is not None
                    else [None] * len(rows))
        # recomputed at every pass, a block of X is made inside the task that sums it: that
        # task depends on y's block only, runs where y is, and no block of X is stored on a
        # worker or sent between workers (not for a graph that holds futures: their data is
        # on the cluster, not in the graph)
        self._make_in_task = not persist and not _holds_futures(X)
        self._recipes: list[BlockRecipe] | None = None
        self.block_names = block_names
        self._cache: OrderedDict[int, tuple[Array, Array, Array | None]] = OrderedDict()
        # on a cluster the persisted blocks as futures, one per block: a step submits its
        # tasks on them directly (no task graph to build, optimize and send)
        self._futures = (_block_futures(X, y, sample_weight)
                         if persist and self.client is not None else None)

    # ---- the batch-source protocol --------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.bounds[-1])

    @property
    def n_blocks(self) -> int:
        return len(self._dx)

    def n_batches(self, batch_size: int | None) -> int:
        n = self.n_samples
        return 1 if batch_size is None or batch_size >= n else -(-n // batch_size)

    def epoch_order(self, rng: np.random.Generator, batch_size: int | None,
                    shuffle: bool) -> Array | None:
        """Blocks in a random order, the rows of each block in a random order (see the module
        docstring); None for full batch or without shuffling."""
        if not (shuffle and batch_size is not None):
            return None
        blocks = permutation(rng, self.n_blocks)
        return np.concatenate([self.bounds[b] + permutation(rng, self.block_rows(b))
                               for b in blocks])

    def loss_and_grad(self, fn: Any, theta: Array, rows: Array | None
                      ) -> tuple[float, Array] | None:
        """The mean data term over the batch: by block sums on the workers for the full batch,
        on the driver for a mini-batch. None when the rows carry no weight."""
        if rows is not None:
            X, y, w = self.rows(rows)
            if w is not None and not w.any():
                return None
            return fn(theta, X, y, w)
        loss, grad, total = self.sums(_term_of(fn), theta)
        if total == 0.0:
            return None
        return loss / total, grad / total

    # ---- blocks ---------------------------------------------------------------------------
    def block_rows(self, b: int) -> int:
        """Number of rows of block b."""
        return int(self.bounds[b + 1] - self.bounds[b])

    def block_name(self, b: int) -> str:
        """Block b as error messages name it."""
        lo, hi = int(self.bounds[b]), int(self.bounds[b + 1])
        where = f"block {b} (rows {lo}..{hi - 1})"
        if self.block_names is not None:
            where = f"{self.block_names[b]}, {where}"
        return where

    def _ship(self, theta: Array) -> Any:
        """theta as the block tasks take it, sent once per step: a plain argument in process;
        on a cluster one node of the step's graph when small (no extra round trip), else
        scattered to every worker (not hashed: a new theta each step)."""
        if self.client is None:
            return theta
        if theta.nbytes <= SCATTER_BYTES:
            from dask import delayed

            return delayed(theta, name=f"theta-{uuid.uuid4().hex}")
        return self.client.scatter(theta, hash=False, broadcast=True)

    def _compute(self, *objs: Any) -> tuple[Any, ...]:
        """dask.compute on this source's scheduler. In-process (threaded) blocks run with one
        BLAS thread, as distributed's worker processes do (its nanny sets
        OPENBLAS_NUM_THREADS=1): a product summed by another number of BLAS threads rounds
        differently, and the blocks' threads already use the cores."""
        import dask

        if self.client is not None:
            return dask.compute(*objs, scheduler=self._get)
        with _blas_controller().limit(limits=1, user_api="blas"):
            return dask.compute(*objs, scheduler=self._get)

    def sums(self, term: Any, theta: Array, blocks: list[int] | None = None) -> Sums:
        """(loss sum, gradient sum, weight) over the given blocks (all by default), computed
        where the blocks live and added in a fixed tree by block index."""
        from dask import delayed

        idx = list(range(self.n_blocks) if blocks is None else blocks)
        if self._futures is not None:
            return self._sums_on_futures(term, theta, idx)
        th = self._ship(theta)
        if self._make_in_task:
            if self._recipes is None:
                self._recipes = [BlockRecipe(dict(d.__dask_graph__().cull({d.key})), d.key)
                                 for d in self._dx]
            parts = [delayed(made_block_sums, pure=False)(term, th, self._recipes[b],
                                                          self._dy[b], self._dw[b])
                     for b in idx]
        else:
            parts = [delayed(block_sums, pure=False)(term, th, self._dx[b], self._dy[b],
                                                     self._dw[b]) for b in idx]
        if len(idx) * theta.nbytes <= GATHER_BYTES:
            return tree_reduce(list(self._compute(parts)[0]), add_sums)
        root = tree_reduce(parts, lambda a, b: delayed(add_sums, pure=False)(a, b))
        return self._compute(root)[0]

    def _map(self, fn: Any, *columns: list[Any], name: str) -> list[Any]:
        """``fn`` over the blocks' futures on the cluster: one message to the scheduler."""
        tag = uuid.uuid4().hex[:12]
        return list(self.client.map(fn, *columns, pure=False,
                                    key=[f"{name}-{tag}-{i}" for i in range(len(columns[0]))]))

    def _theta_arg(self, theta: Array, copies: int) -> Any:
        """theta as a task argument: itself, or a future of it scattered to every worker when
        ``copies`` of it would make a step's message large."""
        if theta.nbytes * copies <= SCATTER_BYTES:
            return theta
        return self.client.scatter(theta, hash=False, broadcast=True)

    def _sums_on_futures(self, term: Any, theta: Array, idx: list[int]) -> Sums:
        fx, fy, fw = self._futures  # type: ignore[misc]  # checked by the caller
        th = self._theta_arg(theta, len(idx))
        futures = self._map(block_sums, [term] * len(idx), [th] * len(idx),
                            [fx[b] for b in idx], [fy[b] for b in idx],
                            [None if fw is None else fw[b] for b in idx], name="block-sums")
        if len(idx) * theta.nbytes <= GATHER_BYTES:
            return tree_reduce(self.client.gather(futures), add_sums)
        root = tree_reduce(futures, lambda a, b: self.client.submit(add_sums, a, b, pure=False))
        return root.result()

    def evaluate(self, model: Any, theta: Array) -> tuple[float, Array]:
        """(mean data loss, logits of every row in order), computed on the workers."""
        from dask import delayed

        term = BlockTerm(model)
        if self._futures is not None:
            fx = self._futures[0]
            logits = self._map(block_logits, [model] * len(fx),
                               [self._theta_arg(theta, len(fx))] * len(fx), fx,
                               name="block-logits")
            loss, _, total = self._sums_on_futures(term, theta, list(range(len(fx))))
            z = self.client.gather(logits)
        else:
            th = self._ship(theta)
            parts = [delayed(block_sums, pure=False)(term, th, self._dx[b], self._dy[b],
                                                     self._dw[b])
                     for b in range(self.n_blocks)]
            logits = [delayed(block_logits, pure=False)(model, th, x) for x in self._dx]
            sums, z = self._compute(parts, logits)
            loss, _, total = tree_reduce(list(sums), add_sums)
        return loss / max(total, np.finfo(float).tiny), np.concatenate(z)

    def take(self, rows: Array) -> tuple[Array, Array, Array | None]:
        """(X, y, sample_weight) of the given rows (global indices, in that order) on the
        driver: each block sends only its rows (one task per block holding some)."""
        from dask import delayed

        rows = np.asarray(rows, dtype=np.int64)
        owner = np.searchsorted(self.bounds, rows, side="right") - 1
        blocks = [int(b) for b in np.unique(owner)]
        local = [rows[owner == b] - self.bounds[b] for b in blocks]
        if self._futures is not None:
            fx, fy, fw = self._futures
            got = self.client.gather(self._map(
                take_rows, local, [fx[b] for b in blocks], [fy[b] for b in blocks],
                [None if fw is None else fw[b] for b in blocks], name="take-rows"))
        else:
            got = self._compute([delayed(take_rows, pure=False)(i, self._dx[b], self._dy[b],
                                                                self._dw[b])
                                 for i, b in zip(local, blocks, strict=True)])[0]
        X0, y0, w0 = got[0]
        X = np.empty((len(rows), *X0.shape[1:]), dtype=X0.dtype)
        y = np.empty((len(rows), *y0.shape[1:]), dtype=y0.dtype)
        w = None if w0 is None else np.empty(len(rows), dtype=w0.dtype)
        for b, (Xb, yb, wb) in zip(blocks, got, strict=True):
            mask = owner == b
            X[mask], y[mask] = Xb, yb
            if w is not None:
                w[mask] = wb
        return X, y, w

    def targets(self) -> Array:
        """y of every row, in order, on the driver."""
        return np.asarray(self._compute(self.y)[0])

    def block(self, b: int) -> tuple[Array, Array, Array | None]:
        """(X, y, sample_weight) of block b on the driver (the last two fetched are kept)."""
        if b in self._cache:
            self._cache.move_to_end(b)
            return self._cache[b]
        if self._futures is not None:
            fx, fy, fw = self._futures
            got = self.client.gather([fx[b], fy[b], None if fw is None else fw[b]])
        else:
            got = self._compute(self._dx[b], self._dy[b], self._dw[b])
        self._cache[b] = (got[0], got[1], got[2])
        while len(self._cache) > 2:
            self._cache.popitem(last=False)
        return self._cache[b]

    def rows(self, rows: Array) -> tuple[Array, Array, Array | None]:
        """(X, y, sample_weight) of the given rows (global indices) on the driver."""
        owner = np.searchsorted(self.bounds, rows, side="right") - 1
        first = int(owner[0])
        if np.all(owner == first):
            X, y, w = self.block(first)
            local = rows - self.bounds[first]
            return X[local], y[local], (None if w is None else w[local])
        pieces = [(b, owner == b) for b in dict.fromkeys(owner.tolist())]
        X0, y0, w0 = self.block(first)
        X = np.empty((len(rows), X0.shape[1]), dtype=X0.dtype)
        y = np.empty((len(rows), *y0.shape[1:]), dtype=y0.dtype)
        w = None if w0 is None else np.empty(len(rows), dtype=w0.dtype)
        for b, mask in pieces:
            Xb, yb, wb = self.block(b)
            local = rows[mask] - self.bounds[b]
            X[mask], y[mask] = Xb[local], yb[local]
            if w is not None and wb is not None:
                w[mask] = wb[local]
        return X, y, w

    def subset(self, blocks: list[int]) -> DaskSource:
        """A source over some of the blocks (in the given order), sharing their storage."""
        import dask.array as da

        pick = [int(b) for b in blocks]
        X = da.concatenate([self.X.blocks[b] for b in pick])
        y = da.concatenate([self.y.blocks[b] for b in pick])
        w = (None if self.sample_weight is None
             else da.concatenate([self.sample_weight.blocks[b] for b in pick]))
        names = None if self.block_names is None else [self.block_names[b] for b in pick]
        sub = DaskSource(X, y, w, persist=False, scheduler=self.client or self._get,
                         block_names=names)
        if self._futures is not None:
            sub._futures = tuple(  # type: ignore[assignment]  # the same blocks' futures
                None if f is None else [f[b] for b in pick] for f in self._futures)
        return sub

    def find_nonfinite(self) -> str | None:
        """Where the first NaN or infinity of X is (block, row, column), or None."""
        from dask import delayed

        if self._futures is not None:
            found = self.client.gather(self._map(nonfinite, self._futures[0], name="nonfinite"))
        else:
            found = self._compute([delayed(nonfinite, pure=False)(x) for x in self._dx])[0]
        for b, hit in enumerate(found):
            if hit is not None:
                what, r, c = hit
                return (f"{what} in {self.block_name(b)} at row {int(self.bounds[b]) + r}, "
                        f"column {c}")
        return None


def _holds_futures(X: Any) -> bool:
    """Whether X's graph refers to data held on a cluster (persisted blocks)."""
    try:
        from distributed import futures_of
    except ImportError:
        return False
    return bool(futures_of(X))


def _block_futures(X: Any, y: Any, w: Any) -> tuple[list[Any], list[Any], list[Any] | None]:
    """The futures of persisted X, y and w, one per row block, in block order."""
    from dask.core import flatten
    from distributed import futures_of

    def per_block(a: Any) -> list[Any]:
        held = {f.key: f for f in futures_of(a)}
        return [held[k] for k in flatten(a.__dask_keys__())]

    return per_block(X), per_block(y), None if w is None else per_block(w)


@functools.cache
def _blas_controller() -> Any:
    """The process's BLAS thread pools (inspected once: inspection costs ~1 ms)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _term_of(fn: Any) -> Any:
    """What a worker runs for ``fn``: a :class:`BlockTerm` of the model and engine when ``fn``
    is a problem's ``data_term`` (the problem holds this source and stays on the driver),
    else ``fn`` itself (then it must be picklable)."""
    owner = getattr(fn, "__self__", None)
    if owner is not None and hasattr(owner, "model"):
        return BlockTerm(owner.model, getattr(owner, "engine", None))
    return fn
