"""BLAS threads: one thread for the small products of mini-batch steps.

On a 200 x 128 product OpenBLAS's second thread gains little on an idle machine and, when the
cores are busy, costs up to ~20x in hand-offs (measured on digits with 256-row batches: 38 ms
per step against 1.9 ms on one thread). :func:`one_blas_thread` limits every BLAS loaded in
the process (NumPy's and SciPy's, which numba's products call) for the duration of a block,
through one :class:`threadpoolctl.ThreadpoolController` made on first use: a fresh
``threadpool_limits`` scans the loaded libraries again (~3 ms), the cached controller costs
~20 us.
"""

from __future__ import annotations

from typing import Any

__all__ = ["one_blas_thread"]

_CONTROLLER: Any = None


def one_blas_thread() -> Any:
    """A context manager that runs BLAS on one thread inside its block."""
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's BLAS before the scan)
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
