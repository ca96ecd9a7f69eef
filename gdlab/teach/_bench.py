"""Shared timing helpers for benchmarks/*.py (not part of the public API).

Two harness traps shape these helpers (docs/benchmarks.md, "How to read these numbers"):

- OpenBLAS worker threads spin for ~0.1 s after a call, stealing a core from whatever is
  timed next; ``pause()`` sleeps between libraries.
- On a shared machine absolute times drift; report ratios to a probe timed in the same run
  (``read_bandwidth``) and compare libraries in *paired* runs: each repeat times every
  candidate once, in the same order, and ratios are taken per repeat, then the median.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.engines._compiler import compile_plain, numba_available

PAUSE_S = 0.2


def pause(seconds: float = PAUSE_S) -> None:
    """Let OpenBLAS/OpenMP spinning threads go idle before the next timing."""
    time.sleep(seconds)


def time_once(fn: Callable[[], Any]) -> float:
    """Wall time of one call, in seconds."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


_POOL: ThreadPoolExecutor | None = None


def repeat(fn: Callable[[], Any], times: int) -> Callable[[], None]:
    """`fn` called `times` times in a row: times small calls above the timer's resolution."""

    def run() -> None:
        for _ in range(times):
            fn()

    return run


def _sum_streams(flat):
    """Sum of a 1-D array read as eight interleaved streams (one per eighth of it); compiled
    by :func:`_compiled_sum_streams` (as plain Python it is far too slow to time)."""
    P = flat.shape[0] // 8
    acc = 0.0
    for q in range(P):
        acc += ((flat[q] + flat[q + P]) + (flat[q + 2 * P] + flat[q + 3 * P])) + (
            (flat[q + 4 * P] + flat[q + 5 * P]) + (flat[q + 6 * P] + flat[q + 7 * P]))
    for q in range(8 * P, flat.shape[0]):
        acc += flat[q]
    return acc


_COMPILED: dict[str, Any] = {}


def _compiled_sum_streams() -> Any:
    """:func:`_sum_streams` compiled with numba (on first use)."""
    if "sum_streams" not in _COMPILED:
        _COMPILED["sum_streams"] = compile_plain(_sum_streams, nogil=True, cache=True,
                                                 fastmath=True)
    return _COMPILED["sum_streams"]


def read_probe(a: NDArray[Any], threads: int = 2, streams: bool = True) -> Callable[[], float]:
    """A callable that reads all of `a` once (a sum split over `threads` threads).

    Each thread reads its part as eight interleaved streams (``streams=True``, compiled; it
    needs numba) or as one (``np.sum``). One core streaming one range keeps too few cache
    lines in flight: on a 2-core VM eight streams read 1.5-1.6x faster (benchmarks/gradient.py
    prints ``gdlab/1-stream read`` beside ``gdlab/bound``), so they give the honest bound.
    Both release the GIL, so the threads read concurrently. Time it among the candidates of a
    paired run: ``bytes(X) / bandwidth`` is the bound a memory-bound gradient cannot beat, and
    it moves with the machine's load.
    """
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(threads)
    pool = _POOL
    flat = a.ravel(order="K")  # no copy for C- or F-contiguous a
    parts = np.array_split(flat, threads)
    read: Callable[[Any], Any] = np.sum
    if streams and numba_available():
        read = _compiled_sum_streams()
        read(parts[0][:64])  # compile (or load) before the first timed call

    def probe() -> float:
        return float(sum(pool.map(read, parts)))

    return probe


def read_bandwidth(a: NDArray[Any], repeats: int = 5, threads: int = 2) -> float:
    """Read bandwidth in bytes/s: median time of :func:`read_probe` over `repeats` calls."""
    probe = read_probe(a, threads)
    probe()  # warm: page faults, thread start
    return a.nbytes / statistics.median(time_once(probe) for _ in range(repeats))


@dataclass
class Paired:
    """Times of several candidates measured in paired rounds."""

    names: list[str]
    times: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def ratio(self, name: str, ref: str) -> float:
        """Median over rounds of time(name) / time(ref) measured in the same round."""
        return statistics.median(
            a / b for a, b in zip(self.times[name], self.times[ref], strict=True)
        )


def paired(
    candidates: dict[str, Callable[[], Any]],
    repeats: int = 5,
    warmup: int = 1,
    pause_s: float = PAUSE_S,
) -> Paired:
    """Time every candidate once per round, `repeats` rounds, pausing between calls."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    result = Paired(list(candidates), {k: [] for k in candidates})
    for _ in range(repeats):
        for name, fn in candidates.items():
            pause(pause_s)
            result.times[name].append(time_once(fn))
    return result


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pastes straight into docs/benchmarks.md)."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |"
        for r in cells
    ]
    return "\n".join([line, sep, *body])


def machine_info() -> str:
    """Cores, Python/NumPy/BLAS versions and thread pools, for the report header."""
    from threadpoolctl import threadpool_info

    lines = [
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} logical cores, {platform.processor() or platform.machine()}"
    ]
    for pool in threadpool_info():
        lines.append(
            f"  {pool.get('internal_api')} {pool.get('version') or ''} "
            f"threads={pool.get('num_threads')} ({os.path.basename(pool.get('filepath', ''))})"
        )
    try:
        if not numba_available():
            raise ImportError("numba")
        import numba

        lines.append(
            f"numba {numba.__version__}: {numba.get_num_threads()} threads, "
            f"layer {numba.threading_layer() if _numba_started() else 'not started'}"
        )
    except ImportError:
        lines.append("numba: not installed")
    try:
        import torch

        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        lines.append("torch: not installed")
    return "\n".join(lines)


def _numba_started() -> bool:
    import numba

    try:
        numba.threading_layer()
    except ValueError:  # raised before the first parallel region runs
        return False
    return True


def parser(description: str) -> argparse.ArgumentParser:
    """The common command line: --quick (small sizes, few repeats) and --repeats."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repeats (smoke test)")
    p.add_argument("--repeats", type=int, default=None, help="paired rounds (default 7, 3 quick)")
    return p
