"""The Dask engine measured: against dask-ml, against NumPy in one process, out of core, scaling.

    python benchmarks/dask_engine.py [--quick] [--repeats N] [--parts abcd] [--scale F]
        [--files N] [--epochs N] [--cache] [--workdir DIR]

(a) logistic regression on m x 50 float64 (2M rows) in 16 chunks on a LocalCluster of 2
    workers: time to within 1e-3 of the optimal log-loss (alpha = 1e-4, the same penalty for
    every contender: scikit-learn and dask-ml take C = 1 / (alpha m)) for gdlab's full-batch
    fit (lr='auto'; Nesterov, and plain gradient descent), dask-ml's LogisticRegression
    (solver 'lbfgs' and 'gradient_descent') and scikit-learn's lbfgs on the same data in
    memory. The data is persisted on the workers and each library has run one short fit
    there before the clocks start; gdlab's first fit on a fresh cluster is timed as well.
    dask-ml imports only with ``dask==2026.8.0 distributed==2026.8.0 dask-ml==2025.1.0``
    (``pip install gdlab[bench-dask]`` in a separate environment); without it its rows say so.
(b) per-epoch time of the full-batch engine (one loss + gradient over every block, reduced)
    against the same gradient in NumPy on one process (the GLM's formula on all of X), with
    the threaded scheduler and on the LocalCluster; paired rounds, medians of ratios.
(c) out of core: Parquet files of ``--scale`` x 1.5 x this machine's memory (default scale 1:
    ~36 GB on a 24 GB machine; the output says when it is scaled down), each under 128 MiB,
    written after checking the free disk space and deleted after; ``gdlab.workflows.
    dask_tabular.fit_files`` fits them full batch with X re-read and re-encoded at every pass
    (``persist=False``); reports the peak resident memory of the whole process tree (driver,
    scheduler, workers, sampled every 50 ms), each epoch's time, and the time to read every
    file once with the fit's reader on the same cluster, measured before the fit and after
    each epoch (no root to drop the page cache: each read finds the cache as the epoch
    before it left it). ``--cache``: the fit writes each file's encoded rows to disk in its
    first pass and loads them after (``fit_files(..., cache_dir=...)``).
(d) time per full-batch epoch against rows (m/32 .. m) and workers (1, 2), as a figure
    (docs/img/dask_scaling.png).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALPHA = 1e-4
N_FEATURES = 50
N_CHUNKS = 16


def _data(m: int, n: int = N_FEATURES, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    w = rng.normal(size=n) / math.sqrt(n) * 2
    y = (rng.random(m) < 1 / (1 + np.exp(-(X @ w)))).astype(np.int64)
    return X, y


def _cluster(n_workers: int = 2) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return cluster, Client(cluster)


def _median_ratio(a: list[float], b: list[float]) -> float:
    return float(np.median(np.asarray(a) / np.asarray(b)))


# ---- (b) --------------------------------------------------------------------------------------
def per_epoch(X: Any, y: Any, client: Any, repeats: int) -> dict[str, Any]:
    """Seconds per full-batch loss+gradient: NumPy in one process, threaded, on the cluster."""
    import dask
    import dask.array as da

    from gdlab.core.loop import ModelProblem
    from gdlab.core.models import GLM
    from gdlab.engines.dask import DaskSource

    m = X.shape[0]
    model = GLM(n_features=X.shape[1], n_outputs=1, loss="bce")
    theta = np.random.default_rng(1).normal(size=model.n_params) * 0.01
    yf = y.astype(np.float64)
    chunk = -(-m // N_CHUNKS)
    Xd, yd = da.from_array(X, chunks=(chunk, X.shape[1])), da.from_array(yf, chunks=chunk)
    with dask.config.set(scheduler="threads"):
        threaded = ModelProblem(model, DaskSource(Xd, yd, scheduler="threads"), 0.0)
    cases: dict[str, Any] = {
        "numpy": lambda: model.loss_and_grad_checked(theta, X, yf),
        "threads": lambda: threaded.loss_and_grad(theta, None),
    }
    if client is not None:
        on_cluster = ModelProblem(model, DaskSource(Xd, yd, scheduler=client), 0.0)
        cases["cluster"] = lambda: on_cluster.loss_and_grad(theta, None)
    times: dict[str, list[float]] = {k: [] for k in cases}
    for fn in cases.values():
        fn()  # warm up: compiled kernels, imports
    for _ in range(repeats):
        for name, fn in cases.items():
            time.sleep(0.2)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    out = {k: float(np.median(v)) for k, v in times.items()}
    out.update({f"{k}/numpy": _median_ratio(times[k], times["numpy"])
                for k in cases if k != "numpy"})
    return out


# ---- (a) --------------------------------------------------------------------------------------
def _objective(X: Any, y: Any, w: Any, b: float) -> float:
    z = X @ w + b
    return float(np.mean(np.logaddexp(0, z) - y * z) + 0.5 * ALPHA * w @ w)


def _gdlab_to_target(Xd: Any, yd: Any, client: Any, target: float, optimizer: str,
                     epochs: int = 300) -> tuple[float, int, str]:
    """(seconds until gdlab's parameters are within the target, epochs, note): a full-batch
    LogisticRegression with the estimator's defaults (lr='auto') but the optimizer."""
    import dask

    from gdlab.estimators.linear import LogisticRegression

    times: list[float] = []

    def clock(state: Any, record: Any) -> bool:
        times.append(time.perf_counter())
        return bool(record.loss <= target)  # stop at the first epoch within 1e-3

    with dask.config.set(scheduler="dask.distributed"), client.as_current():
        est = LogisticRegression(optimizer=optimizer, batch_size=None, epochs=epochs,
                                 alpha=ALPHA, tol=None, callbacks=[clock])
        t0 = time.perf_counter()
        est.fit(Xd, yd)
    hit = next((i for i, r in enumerate(est.history_) if r["loss"] <= target), None)
    if hit is None:
        return math.inf, est.n_iter_, f"not within 1e-3 in {est.n_iter_} epochs"
    # epoch k records the loss of the parameters it starts from: those of epoch `hit` were
    # ready when epoch hit-1 ended (or when the fit started its first epoch, for hit 0)
    ready = times[hit - 1] if hit > 0 else times[0] - est.history_[0]["seconds"]
    return ready - t0, hit, f"lr_ = {est.lr_:.3g}"


def time_to_target(X: Any, y: Any, client: Any) -> list[list[Any]]:
    """Rows (contender, seconds to within 1e-3 of the optimum, iterations, note)."""
    import dask
    import dask.array as da
    from distributed import wait
    from sklearn.linear_model import LogisticRegression as SkLR

    m = X.shape[0]
    C = 1.0 / (ALPHA * m)
    ref = SkLR(C=C, tol=1e-10, max_iter=1000).fit(X, y)
    f_star = _objective(X, y, ref.coef_[0], float(ref.intercept_[0]))
    target = f_star + 1e-3
    rows: list[list[Any]] = [["optimum (scikit-learn lbfgs, tol 1e-10)", "-", ref.n_iter_[0],
                              f"f* = {f_star:.6f}"]]
    for k in (5, 10, 20, 40, 80):
        t0 = time.perf_counter()
        sk = SkLR(C=C, tol=1e-12, max_iter=k).fit(X, y)
        t = time.perf_counter() - t0
        if _objective(X, y, sk.coef_[0], float(sk.intercept_[0])) <= target:
            rows.append(["scikit-learn lbfgs, in memory", t, k, ""])
            break
    chunk = -(-m // N_CHUNKS)

    def persisted(c: Any) -> tuple[Any, Any]:
        Xd = da.from_array(X, chunks=(chunk, X.shape[1])).persist()
        yd = da.from_array(y, chunks=chunk).persist()
        wait([Xd, yd])  # the data on the workers before any clock starts
        return Xd, yd

    with client.as_current():
        Xd, yd = persisted(client)
    try:
        from dask_ml.linear_model import LogisticRegression as DaskLR
    except ImportError as exc:
        DaskLR, missing = None, exc
    # warm the workers: one short fit of each library before the clocks (imports, gdlab's
    # compiled kernels); the first fit on fresh workers is timed at the end
    _gdlab_to_target(Xd, yd, client, -math.inf, "gd", epochs=1)
    if DaskLR is not None:
        for solver in ("lbfgs", "gradient_descent"):
            try:
                with dask.config.set(scheduler="dask.distributed"), client.as_current():
                    DaskLR(solver=solver, C=C, max_iter=1).fit(Xd, yd)
            except Exception:  # noqa: BLE001, S110 - its timed fits report the failure
                pass
    for optimizer in ("nesterov", "gd"):
        t, hit, note = _gdlab_to_target(Xd, yd, client, target, optimizer)
        rows.append([f"gdlab {optimizer}, lr='auto', full batch, LocalCluster", t, hit, note])
    if DaskLR is None:
        rows.append(["dask-ml", "-", "-", f"not importable here ({missing}); pip install "
                     "gdlab[bench-dask] in its own environment"])
    else:
        for solver in ("lbfgs", "gradient_descent"):
            found = False
            for k in (5, 10, 20, 40, 80, 160):
                try:
                    with dask.config.set(scheduler="dask.distributed"), client.as_current():
                        t0 = time.perf_counter()
                        d = DaskLR(solver=solver, C=C, max_iter=k, tol=1e-12).fit(Xd, yd)
                        t = time.perf_counter() - t0
                except Exception as exc:  # noqa: BLE001 - the row reports the failure
                    rows.append([f"dask-ml {solver}", "-", k, f"fails: {type(exc).__name__}: "
                                 f"{str(exc)[:60]}"])
                    found = True
                    break
                if _objective(X, y, np.asarray(d.coef_).ravel(), float(d.intercept_)) <= target:
                    rows.append([f"dask-ml {solver}", t, k, ""])
                    found = True
                    break
            if not found:
                rows.append([f"dask-ml {solver}", math.inf, 160, "not within 1e-3"])
    del Xd, yd
    # gdlab's first fit on a fresh cluster: the workers import gdlab, scikit-learn and numba
    # and load the compiled kernels inside the clock
    cluster, fresh = _cluster(2)
    try:
        with fresh.as_current():
            Xd, yd = persisted(fresh)
        t, hit, note = _gdlab_to_target(Xd, yd, fresh, target, "nesterov")
        rows.append(["gdlab nesterov, first fit on a fresh LocalCluster", t, hit, note])
    finally:
        fresh.close()
        cluster.close()
    return rows


# ---- (c) --------------------------------------------------------------------------------------
def _tree_rss(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


#: (c) writes files of at most this many bytes of float64 values (more files for more data)
FILE_BYTES = 128 << 20


def _read_all(files: list[Path], client: Any) -> float:
    """Seconds to read every file once on the cluster, with the fit's reader."""
    import dask

    from gdlab.io.tables import read_table

    t0 = time.perf_counter()
    dask.compute([dask.delayed(_n_rows, pure=False)(str(f), read_table) for f in files],
                 scheduler=client)
    return time.perf_counter() - t0


def _n_rows(path: str, reader: Any) -> int:
    return len(reader(path))


def out_of_core(scale: float, workdir: Path, n_files: int, epochs: int = 3,
                cache: bool = False) -> dict[str, Any]:
    """Generate, fit (blocks re-read at every pass), measure, delete."""
    import psutil

    from gdlab.workflows.dask_tabular import fit_files
    from gdlab.workflows.tabular import UNLIMITED, FitSettings

    memory = psutil.virtual_memory().total
    target_bytes = int(1.5 * memory * scale)
    row_bytes = 8 * (N_FEATURES + 1)
    n_files = max(n_files, -(-target_bytes // FILE_BYTES))
    rows_per_file = max(1000, target_bytes // row_bytes // n_files)
    need = rows_per_file * n_files * row_bytes
    free = shutil.disk_usage(workdir).free
    if need * (2 if cache else 1) > 0.8 * free:
        raise SystemExit(f"(c) needs ~{need / 1e9:.1f} GB in {workdir} but {free / 1e9:.1f} GB "
                         "are free; pass a smaller --scale.")
    d = Path(tempfile.mkdtemp(prefix="gdlab-ooc-", dir=workdir))
    try:
        import pandas as pd

        rng = np.random.default_rng(0)
        w = rng.normal(size=N_FEATURES) / math.sqrt(N_FEATURES) * 2
        (d / "parts").mkdir()
        t0 = time.perf_counter()
        for i in range(n_files):
            X = rng.normal(size=(rows_per_file, N_FEATURES))
            y = (rng.random(rows_per_file) < 1 / (1 + np.exp(-(X @ w)))).astype(np.int64)
            df = pd.DataFrame(X, columns=[f"x{j}" for j in range(N_FEATURES)])
            df["label"] = y
            df.to_parquet(d / "parts" / f"part{i:05d}.parquet", index=False)
            del X, y, df
        write_s = time.perf_counter() - t0
        files = sorted((d / "parts").iterdir())
        on_disk = sum(f.stat().st_size for f in files)
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _tree_rss(os.getpid()))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        from gdlab.workflows.dask_tabular import dask_client

        reads: list[float] = []

        def read_between(state: Any, record: Any) -> None:
            # one read of every file between epochs, on the fit's own cluster: the same
            # page-cache state as the epoch before it
            reads.append(_read_all(files, client))

        with dask_client(None, 2) as (client, _):
            reads.append(_read_all(files, client))  # right after writing (page cache warm)
            s = FitSettings(batch_size="full", epochs=epochs, tol=UNLIMITED, optimizer="gd",
                            lr=1.0, test_size=0.0)
            t0 = time.perf_counter()
            res = fit_files(d / "parts", "label", s, scheduler=client.scheduler.address,
                            persist=False, callbacks=[read_between],
                            cache_dir=d / "cache" if cache else None)
            fit_s = time.perf_counter() - t0
        stop.set()
        sampler.join()
        epoch_s = [float(h["seconds"]) for h in res.history]
        # each epoch against the read right after it (the same page-cache state)
        paired = [e / r for e, r in zip(epoch_s, reads[1:], strict=True)]
        return {"scale": scale, "cache": cache, "rows": rows_per_file * n_files,
                "files": n_files,
                "bytes_on_disk": on_disk, "raw_bytes": need, "write_s": write_s,
                "peak_rss": peak[0], "read_once_s": reads, "epoch_s": epoch_s,
                "fit_s": fit_s, "epoch/read": paired, "median epoch/read": float(np.median(paired))}
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- (d) --------------------------------------------------------------------------------------
def scaling(m: int, repeats: int, fig: Path | None) -> list[list[Any]]:
    rows = []
    for workers in (1, 2):
        cluster, client = _cluster(workers)
        try:
            for mm in (m // 32, m // 16, m // 8, m // 4, m // 2, m):
                X, y = _data(mm)
                r = per_epoch(X, y, client, repeats)
                rows.append([mm, workers, r["numpy"], r["cluster"]])
                del X, y
        finally:
            client.close()
            cluster.close()
    if fig is not None:
        import matplotlib
        import matplotlib.ticker

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        f, ax = plt.subplots(figsize=(6, 4))
        for workers in (1, 2):
            pts = [(r[0], r[3]) for r in rows if r[1] == workers]
            what = "1 worker" if workers == 1 else f"{workers} workers"
            ax.plot(*zip(*pts, strict=True), "o-", label=f"LocalCluster, {what}")
        pts = [(r[0], r[2]) for r in rows if r[1] == 1]
        ax.plot(*zip(*pts, strict=True), "k--", label="NumPy, one process")
        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = sorted({r[0] for r in rows})
        ax.set_xticks(sizes, [f"{v / 1e6:g}M" if v >= 1e6 else f"{v / 1e3:g}k" for v in sizes])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(f"rows (x {N_FEATURES} float64, {N_CHUNKS} blocks)")
        ax.set_ylabel("seconds per full-batch epoch")
        ax.legend()
        f.tight_layout()
        fig.parent.mkdir(parents=True, exist_ok=True)
        f.savefig(fig, dpi=110)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--parts", default="abd", help="which of a, b, c, d to run")
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="(c): the dataset is scale x 1.5 x this machine's memory")
    ap.add_argument("--files", type=int, default=64,
                    help="(c): at least this many Parquet files (more to keep each under "
                         f"{FILE_BYTES >> 20} MiB)")
    ap.add_argument("--epochs", type=int, default=4, help="(c): full-batch epochs")
    ap.add_argument("--cache", action="store_true",
                    help="(c): fit with cache_dir (the encoded blocks written to disk in the "
                         "first pass, loaded after; twice the disk space)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--fig", type=Path, default=ROOT / "docs" / "img" / "dask_scaling.png")
    args = ap.parse_args()
    m = 20_000 if args.quick else args.rows
    from gdlab.teach import _bench

    print(_bench.machine_info())
    import dask
    import distributed

    print(f"dask {dask.__version__}, distributed {distributed.__version__}")
    if "b" in args.parts or "a" in args.parts:
        X, y = _data(m)
        cluster, client = _cluster(2)
        try:
            if "b" in args.parts:
                r = per_epoch(X, y, client, args.repeats)
                print(f"\n(b) per full-batch epoch, {m} x {N_FEATURES}, {N_CHUNKS} blocks "
                      f"(medians of {args.repeats} paired rounds):")
                print(_bench.table(["numpy s", "threads s", "cluster s", "threads/numpy",
                                    "cluster/numpy"],
                                   [[r["numpy"], r["threads"], r["cluster"], r["threads/numpy"],
                                     r["cluster/numpy"]]]))
            if "a" in args.parts:
                rows = time_to_target(X, y, client)
                print(f"\n(a) time to within 1e-3 of the optimal log-loss, {m} x {N_FEATURES}:")
                print(_bench.table(["contender", "seconds", "iterations", "note"], rows))
        finally:
            client.close()
            cluster.close()
        del X, y
    if "c" in args.parts:
        scale = 0.001 if args.quick else args.scale
        r = out_of_core(scale, args.workdir, 4 if args.quick else args.files,
                        epochs=args.epochs, cache=args.cache)
        note = "" if scale >= 1 else f" (SCALED DOWN: {scale} x the full size)"
        print(f"\n(c) out of core{note}:")
        for k, v in r.items():
            shown = ([round(x, 3) for x in v] if isinstance(v, list)
                     else round(v, 3) if isinstance(v, float) else v)
            print(f"  {k}: {shown}")
    if "d" in args.parts:
        rows = scaling(m, max(3, args.repeats // 2), None if args.quick else args.fig)
        print("\n(d) seconds per full-batch epoch by rows and workers:")
        print(_bench.table(["rows", "workers", "numpy s", "cluster s"], rows))


if __name__ == "__main__":
    main()
