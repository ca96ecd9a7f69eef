"""The Dask engine: rows in blocks of a Dask collection as a batch source.

:class:`DaskSource` (:mod:`gdlab.engines.dask.source`) implements the batch-source protocol of
:mod:`gdlab.core.sources` over row blocks that live on Dask workers (or in the threaded
scheduler's memory): a full-batch step computes every block's loss and gradient sums where the
block lives and adds them in a fixed tree by block index; mini-batches come from one block at
a time. The functions that run on the workers live in :mod:`gdlab.engines.dask.blocks`.

Imports :mod:`gdlab.core` only; dask is imported when a source is built.
"""

from gdlab.engines.dask.source import DaskSource, default_scheduler, is_dask_collection

__all__ = ["DaskSource", "default_scheduler", "is_dask_collection"]
