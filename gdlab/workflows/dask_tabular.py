"""``gdlab fit --engine dask`` and ``gdlab predict`` on many files: tables on a Dask cluster.

DATA is a directory (every ``.parquet`` / ``.pq`` / ``.csv`` / ``.tsv`` file in it, sorted by
name), a glob, or one file. Each file is read by :func:`gdlab.io.read_table`, the in-memory
reader with the same checks, and is one row block, so a bad cell is reported as in memory:
one line naming the file, the line or row, and the column.

The steps of :func:`fit_files`:

1. one pass over the files on the cluster (:func:`file_stats` per file): row count, column
   kinds, categories, the target's values, and the moments (count, mean, sum of squared
   deviations) of the numeric columns over the training rows;
2. on the driver, the per-file results are combined in file order: the task (the rules of
   :func:`gdlab.io.infer_task`), the one-hot vocabulary, and the means and scales of
   :class:`gdlab.io.FeatureEncoder` (Chan's pairwise update of the moments);
3. each file is encoded by that encoder on the worker that reads it (in the column-major
   memory pandas reads it into, scaled in place), kept in the workers' memory when the
   encoded rows take at most half of it (else, or with ``persist=False``, read and encoded
   again at every pass) and the estimator is fitted on the blocks
   (:mod:`gdlab.estimators._dask`);
4. the metrics of both sets are computed block by block on the cluster.

Held-out rows are drawn inside each file, ``ceil(test_size * rows)`` of them, from a
generator seeded by (seed, file position): the same rows on any cluster. Without a scheduler
address a :class:`distributed.LocalCluster` is started for the fit and closed after it.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import io
import json
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.io.safe_npz import ModelFileError
from gdlab.io.tables import (
    DataFileError,
    FeatureEncoder,
    _class_values,
    default_max_classes,
    read_table,
    split_features_target,
)
from gdlab.workflows.tabular import (
    FitResult,
    FitSettings,
    _estimator,
    _target_array,
    _task_of,
)

Array = NDArray[Any]

__all__ = ["data_files", "dask_client", "encode_file_cached", "file_stats", "fit_files",
           "predict_files"]

_EXTENSIONS = (".parquet", ".pq", ".csv", ".tsv", ".csv.gz", ".tsv.gz")
#: distinct target values a file reports (beyond this the target is continuous or an id)
_MAX_TARGET_VALUES = 1000


def data_files(data: str | os.PathLike[str]) -> list[Path]:
    """The files of DATA: a directory's table files sorted by name, a glob's, or one file."""
    p = Path(data)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.name.lower().endswith(_EXTENSIONS))
        if not files:
            raise DataFileError(f"{p}: no .parquet, .csv or .tsv files in this directory.")
        return files
    if any(ch in str(data) for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(str(data)))
        if not files:
            raise DataFileError(f"{data}: no file matches this pattern; check the path.")
        return files
    if not p.exists():
        raise DataFileError(f"{p}: no such file or directory; check the path.")
    return [p]


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None
                ) -> Iterator[tuple[Any, str]]:
    """A distributed Client and a line saying what it is connected to.

    scheduler : address of a running scheduler (``tcp://host:8786``); None starts a
        LocalCluster of ``workers`` processes (2 by default), one thread each, closed on exit.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        client = Client(scheduler)
        try:
            n = len(client.scheduler_info().get("workers", {}))
            yield client, f"connected to the Dask scheduler at {scheduler} ({n} workers)"
        finally:
            client.close()
        return
    n = 2 if workers is None else int(workers)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True)
    client = Client(cluster)
    try:
        what = "1 worker process" if n == 1 else f"{n} worker processes"
        yield client, f"started a Dask LocalCluster of {what} (dashboard: {client.dashboard_link})"
    finally:
        client.close()
        cluster.close()


# ---- the statistics pass ----------------------------------------------------------------------
def _held_out(n: int, seed: int, position: int, test_size: float) -> Array:
    """Boolean mask of the held-out rows of the file at ``position`` (see the module doc)."""
    mask = np.zeros(n, dtype=bool)
    k = int(math.ceil(test_size * n)) if test_size > 0 else 0
    if k:
        mask[np.random.default_rng([seed, position]).permutation(n)[:k]] = True
    return mask


def _moments(M: Array) -> tuple[int, Array, Array]:
    """(count, mean, sum of squared deviations) of the columns of M."""
    n = M.shape[0]
    if n == 0:
        return 0, np.zeros(M.shape[1]), np.zeros(M.shape[1])
    mean = M.mean(axis=0)
    return n, mean, ((M - mean) ** 2).sum(axis=0)


def _merge_moments(a: tuple[int, Array, Array], b: tuple[int, Array, Array]
                   ) -> tuple[int, Array, Array]:
    """Chan et al.'s pairwise combination of two sets' moments."""
    na, ma, sa = a
    nb, mb, sb = b
    n = na + nb
    if nb == 0:
        return a
    if na == 0:
        return b
    d = mb - ma
    return n, ma + d * (nb / n), sa + sb + d * d * (na * nb / n)


def file_stats(path: str, target: str, categorical: str, seed: int, position: int,
               test_size: float) -> dict[str, Any]:
    """What the fit needs to know of one file, read once (runs on a worker)."""
    df = read_table(path)
    X_df, y = split_features_target(df, target, path=path)
    enc = FeatureEncoder(categorical=categorical,  # type: ignore[arg-type]  # str checked by FitSettings
                         standardize=False).fit(X_df, path=path)
    test = _held_out(len(df), seed, position, test_size)
    numeric = enc.numeric_columns_
    M = (enc.transform(X_df[~test], path=path, order="F", copy=False)[:, enc._numeric_positions()]
         if numeric else None)
    values, is_numeric = _class_values(y, path, target)
    uniq, counts = np.unique(values.astype(str) if not is_numeric else values,
                             return_counts=True)
    return {
        "path": path, "n": len(df), "n_test": int(test.sum()),
        "columns": list(enc.feature_names_in_), "numeric": list(numeric),
        "categories": enc.categories_,
        "moments": None if M is None else _moments(M),
        "y_numeric": bool(is_numeric),
        "y_integer": bool(not is_numeric or np.all(uniq == np.round(uniq))),
        "y_min": float(uniq.min()) if is_numeric else None,
        "y_max": float(uniq.max()) if is_numeric else None,
        "y_values": (None if len(uniq) > _MAX_TARGET_VALUES
                     else dict(zip(uniq.tolist(), counts.tolist(), strict=True))),
        "y_dtype": str(y.dtype),
    }


def _combine(stats: list[dict[str, Any]], s: FitSettings, target: str
             ) -> tuple[FeatureEncoder, str, str, bool]:
    """(encoder, task, summary, inferred) from the per-file statistics, in file order."""
    first = stats[0]
    for st in stats[1:]:
        if st["columns"] != first["columns"] or st["numeric"] != first["numeric"]:
            raise DataFileError(
                f"{st['path']}: its columns {st['columns']} (numeric: {st['numeric']}) differ "
                f"from those of {first['path']} ({first['columns']}, numeric: "
                f"{first['numeric']}); every file needs the same columns of the same kinds.")
    cats: dict[str, list[str]] = {}
    for name in first["columns"]:
        if name in first["numeric"]:
            continue
        levels = sorted(set().union(*(st["categories"][name] for st in stats)))
        if len(levels) > 100:
            raise DataFileError(
                f"{first['path']}: column {name!r} has {len(levels)} distinct values across the "
                "files; one-hot encoding would add that many columns (limit 100); drop it.")
        cats[name] = levels
    meta = {"state_version": FeatureEncoder.STATE_VERSION, "categorical": s.categorical,
            "standardize": bool(s.standardize), "max_categories": None,
            "feature_names_in": list(first["columns"]), "categories": cats,
            # missing cells are an error on Dask (named with their file and line), unseen
            # categories too; no rare categories are grouped
            "missing": "error", "unknown": "error",
            "infrequent": {}, "category_fill": {}}
    probe = FeatureEncoder.from_state(
        {"encoder.means": np.zeros(_n_out(first["columns"], cats)),
         "encoder.scales": np.ones(_n_out(first["columns"], cats))}, meta)
    means, scales = probe.means_, probe.scales_
    if s.standardize and first["numeric"]:
        total = stats[0]["moments"]
        for st in stats[1:]:
            total = _merge_moments(total, st["moments"])
        n, mean, m2 = total
        pos = probe._numeric_positions()
        sd = np.sqrt(m2 / max(n, 1))
        # the rule of FeatureEncoder.fit: a constant column keeps scale 1
        sd[sd <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0
        means[pos], scales[pos] = mean, sd
    encoder = FeatureEncoder.from_state({"encoder.means": means, "encoder.scales": scales},
                                        meta)
    task, summary = _task(stats, target, first["path"])
    inferred = s.model == "auto"
    if not inferred:
        task = _task_of(s.model, task)
    return encoder, task, summary, inferred


def _n_out(columns: list[str], cats: dict[str, list[str]]) -> int:
    return sum(len(cats[c]) if c in cats else 1 for c in columns)


def _task(stats: list[dict[str, Any]], target: str, src: str) -> tuple[str, str]:
    """The task by :func:`gdlab.io.infer_task`'s rules on the values of every file."""
    n = sum(st["n"] for st in stats)
    numeric = all(st["y_numeric"] for st in stats)
    many = any(st["y_values"] is None for st in stats)
    values: dict[Any, int] = {}
    for st in stats:
        for v, c in (st["y_values"] or {}).items():
            key = v if numeric else str(v)
            values[key] = values.get(key, 0) + c
    k = len(values)
    limit = default_max_classes(n)
    if numeric and (many or not all(st["y_integer"] for st in stats)
                    or (k > 2 and k > limit)):
        lo = min(st["y_min"] for st in stats)
        hi = max(st["y_max"] for st in stats)
        return "regression", (f"target {target!r}: continuous values in [{lo:.6g}, {hi:.6g}] "
                              "-> regression (linear regression)")
    if many or k > limit:
        raise DataFileError(f"{src}: the target column {target!r} has more than {limit} "
                            "distinct text values; that looks like an id, not classes.")
    if k < 2:
        raise DataFileError(f"{src}: the target column {target!r} has a single class; a "
                            "classifier needs at least two.")
    task = "binary" if k == 2 else "multiclass"
    shown = ", ".join(repr(int(v)) if isinstance(v, float) and v.is_integer() else repr(v)
                      for v in sorted(values)[:10])
    model = "logistic regression" if task == "binary" else "softmax regression"
    more = ", ..." if k > 10 else ""
    return task, f"target {target!r}: {k} classes ({shown}{more}) -> {task} ({model})"


# ---- the blocks ----------------------------------------------------------------------------------
def encode_file(path: str, target: str, encoder: FeatureEncoder, task: str, seed: int,
                position: int, test_size: float, held_out: bool, y_dtype: str
                ) -> tuple[Array, Array]:
    """(X, y) of the training (or held-out) rows of one file, encoded (runs on a worker).
    X is column-major."""
    df = read_table(path)
    X_df, y_s = split_features_target(df, target, path=path)
    mask = _held_out(len(df), seed, position, test_size)
    keep = mask if held_out else ~mask
    if not keep.all():  # a boolean selection copies every column
        X_df, y_s = X_df[keep], y_s[keep]
    # in the frame's own memory, column-major as pandas holds it: no matrix allocated
    X = encoder.transform(X_df, path=path, order="F", copy=False)
    y = _target_array(y_s, task)
    if task != "regression" and y_dtype == "object":
        y = y.astype(str).astype(object)
    return X, y


def encode_file_cached(cache: str, path: str, target: str, encoder: FeatureEncoder,
                       task: str, seed: int, position: int, test_size: float, held_out: bool,
                       y_dtype: str) -> tuple[Array, Array]:
    """:func:`encode_file` through a directory of encoded blocks (runs on a worker).

    The first call for a file writes its encoded X and y as ``.npy`` files (atomically) named
    by a hash of the file (path, size, modification time), the encoder's state and every
    argument; later calls load them instead of reading and encoding the file again.
    """
    from gdlab.io.atomic import atomic_write_bytes

    st = os.stat(path)
    h = hashlib.sha256(json.dumps(
        [os.path.abspath(path), st.st_size, st.st_mtime_ns, target, task, seed, position,
         test_size, held_out, y_dtype, encoder.to_meta()], default=str).encode())
    for a in encoder.to_arrays().values():
        h.update(np.ascontiguousarray(a).tobytes())
    base = Path(cache) / h.hexdigest()[:32]
    fx, fy = base.with_suffix(".X.npy"), base.with_suffix(".y.npy")
    if fx.exists() and fy.exists():
        X, y = np.load(fx), np.load(fy)
        return X, (y.astype(object) if y_dtype == "object" else y)
    X, y = encode_file(path, target, encoder, task, seed, position, test_size, held_out,
                       y_dtype)
    Path(cache).mkdir(parents=True, exist_ok=True)
    for f, a in ((fy, y.astype(str) if y_dtype == "object" else y), (fx, X)):
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        atomic_write_bytes(f, buf.getvalue())
    return X, y


def _blocks(stats: list[dict[str, Any]], target: str, encoder: FeatureEncoder, task: str,
            s: FitSettings, held_out: bool, y_dtype: Any, cache: str | None = None,
            fresh: bool = False) -> tuple[Any, Any]:
    """X and y of every file as dask arrays, one block per file. ``fresh``: under keys of
    their own (a pass whose graph is not optimized as the fit's is: the scheduler must not see
    one key with two definitions)."""
    import dask
    import dask.array as da

    p = encoder.n_features_out_
    xs, ys = [], []
    for i, st in enumerate(stats):
        rows = st["n_test"] if held_out else st["n"] - st["n_test"]
        if rows == 0:
            continue
        fn: Any = encode_file if cache is None else functools.partial(encode_file_cached, cache)
        pair = dask.delayed(fn, pure=not fresh, nout=2)(
            st["path"], target, encoder, task, s.seed, i, s.test_size, held_out,
            np.dtype(y_dtype).name if np.dtype(y_dtype) != object else "object")
        xs.append(da.from_delayed(pair[0], shape=(rows, p), dtype=np.float64))
        ys.append(da.from_delayed(pair[1], shape=(rows,), dtype=y_dtype))
    if not xs:
        return None, None
    return da.concatenate(xs), da.concatenate(ys)


def _y_dtype(stats: list[dict[str, Any]], task: str) -> Any:
    if task == "regression":
        return np.float64
    if all(st["y_numeric"] for st in stats):
        dtypes = {st["y_dtype"] for st in stats}
        if all(d.startswith(("int", "uint")) for d in dtypes):
            return np.int64
        if all(st["y_integer"] for st in stats):
            return np.int64
        return np.float64
    return object


# ---- metrics ---------------------------------------------------------------------------------
def block_metric_sums(X: Array, y: Array, est: Any, task: str) -> dict[str, Any]:
    """Sums from which the metrics of :func:`gdlab.workflows.tabular.metrics_for` follow."""
    n = len(y)
    if task == "regression":
        r = y - est.predict(X)
        return {"n": n, "sy": float(y.sum()), "syy": float((y * y).sum()),
                "sse": float((r * r).sum()), "sae": float(np.abs(r).sum())}
    classes = est.classes_
    proba = est.predict_proba(X)
    t = np.searchsorted(classes, y)
    pred = np.argmax(proba, axis=1)
    eps = np.finfo(proba.dtype).eps
    p_true = np.clip(proba[np.arange(n), t] / proba.sum(axis=1), eps, 1 - eps)
    K = len(classes)
    return {"n": n, "logloss": float(-np.log(p_true).sum()),
            "confusion": np.bincount(t * K + pred, minlength=K * K).reshape(K, K)}


def _metrics(task: str, est: Any, X: Any, y: Any, client: Any) -> dict[str, float | None]:
    import dask
    from dask import delayed

    from gdlab.estimators._dask import _light

    if X is None:
        return {"n": 0}
    light = _light(est)
    parts = [delayed(block_metric_sums, pure=False)(xb, yb, light, task)
             for xb, yb in zip(X.to_delayed(optimize_graph=False).ravel(),
                               y.to_delayed(optimize_graph=False).ravel(), strict=True)]
    sums = dask.compute(parts, scheduler=client)[0]
    n = sum(p["n"] for p in sums)
    out: dict[str, float | None] = {"n": n}
    if task == "regression":
        sy, syy = sum(p["sy"] for p in sums), sum(p["syy"] for p in sums)
        sse, sae = sum(p["sse"] for p in sums), sum(p["sae"] for p in sums)
        sst = syy - sy * sy / n
        out["r2"] = (1.0 - sse / sst) if n >= 2 and sst > 0 else None
        out["mae"], out["rmse"] = sae / n, math.sqrt(sse / n)
        return out
    C = sum(p["confusion"] for p in sums)
    tp = np.diag(C).astype(float)
    denom = C.sum(axis=0) + C.sum(axis=1)
    f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    out["accuracy"] = float(tp.sum() / n)
    out["log_loss"] = float(sum(p["logloss"] for p in sums) / n)
    out["f1_macro"] = float(f1.mean())
    return out


# ---- fit ---------------------------------------------------------------------------------------
def _fingerprint(files: list[Path], settings: dict[str, Any]) -> str:
    """SHA-256 of the files' names, sizes and modification times and of the settings."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    return h.hexdigest()


#: the encoded training rows are kept in the workers' memory when they take at most this
#: share of it (Dask's workers start spilling to disk at 0.6 by default)
PERSIST_SHARE = 0.5


def keep_in_memory(encoded_bytes: int, worker_memory: list[int]) -> tuple[bool, str | None]:
    """Whether to keep the encoded blocks in the workers' memory (``persist``), and the note
    that says so when they do not fit: at most :data:`PERSIST_SHARE` of the workers' memory
    together (a worker without a limit counts as unlimited)."""
    if not worker_memory or any(m <= 0 for m in worker_memory):
        return True, None
    total = sum(worker_memory)
    if encoded_bytes <= PERSIST_SHARE * total:
        return True, None
    return False, (f"the encoded training rows ({encoded_bytes / 1e9:.3g} GB) exceed "
                   f"{PERSIST_SHARE:.0%} of the workers' memory ({total / 1e9:.3g} GB): every "
                   "pass reads and encodes the files again (--persist keeps them in memory)")


def _worker_memory(client: Any) -> list[int]:
    """Each worker's memory limit in bytes (0: none)."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return [int(w.get("memory_limit") or 0) for w in workers.values()]


def fit_files(data: str | os.PathLike[str], target: str, settings: FitSettings | None = None,
              *, scheduler: str | None = None, workers: int | None = None,
              persist: bool | None = None,
              checkpoint_dir: str | os.PathLike[str] | None = None,
              checkpoint_every: int = 1, resume: bool = False, verbose: int = 0,
              callbacks: list[Any] | None = None,
              cache_dir: str | os.PathLike[str] | None = None) -> FitResult:
    """:func:`gdlab.workflows.tabular.fit_table` for files on a Dask cluster (module doc).

    ``persist``: keep the encoded blocks in the workers' memory (True), or read and encode
    every file again at each pass, keeping only y (False); None decides by their size
    (:func:`keep_in_memory`) and adds a note when they are re-read. ``callbacks``: more epoch
    callbacks ``(state, record) -> bool | None`` for the estimator (True stops the run).
    ``cache_dir`` (implies ``persist=False``): a directory, on a disk every worker sees, where
    the first pass writes each file's encoded rows (as much space as the data in float64)
    and later passes load them instead of reading and encoding the files
    (:func:`encode_file_cached`). The result's ``notes`` start with the line saying which
    cluster ran the fit.
    """
    import dask

    from gdlab.estimators._dask import fit_dask
    from gdlab.io.checkpoint import (
        CHECKPOINT_NAME,
        CheckpointCallback,
        load_checkpoint,
    )

    s = settings or FitSettings()
    s.validate()
    files = data_files(data)
    if cache_dir is not None:
        if persist:
            raise ValueError("cache_dir serves fits that re-read the files at every pass; "
                             "pass persist=False (--no-persist) with it, or leave it out.")
        persist = False
    with dask_client(scheduler, workers) as (client, line):
        notes = [line]
        stats = dask.compute([dask.delayed(file_stats, pure=False)(
            str(f), target, s.categorical, s.seed, i, s.test_size)
            for i, f in enumerate(files)], scheduler=client)[0]
        encoder, task, summary, inferred = _combine(stats, s, target)
        y_dtype = _y_dtype(stats, task)
        if persist is None:
            n_train = sum(st["n"] - st["n_test"] for st in stats)
            persist, note = keep_in_memory(8 * n_train * encoder.n_features_out_,
                                           _worker_memory(client))
            if note is not None:
                notes.append(note)
        cache = None if cache_dir is None else str(cache_dir)
        X_tr, y_tr = _blocks(stats, target, encoder, task, s, False, y_dtype, cache)
        names = [str(st["path"]) for st in stats if st["n"] - st["n_test"] > 0]
        callbacks = list(callbacks or [])
        resume_state, resumed_from, cb, ckpt_path = None, None, None, None
        if checkpoint_dir is not None:
            fp = _fingerprint(files, {**s.fingerprint_settings(), "task": task,
                                      "target": target, "engine": "dask",
                                      "features": list(encoder.feature_names_out_)})
            ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME
            if ckpt_path.exists() and not resume:
                raise ModelFileError(
                    f"{ckpt_path}: a checkpoint already exists; pass --resume to continue it, "
                    "or delete it (or use another --checkpoint directory) to start afresh.")
            if ckpt_path.exists():
                resume_state, _ = load_checkpoint(ckpt_path, fingerprint=fp)
                resumed_from = int(resume_state.epoch)
            elif resume:
                notes.append(f"no checkpoint in {checkpoint_dir} yet; starting from epoch 0")
            cb = CheckpointCallback(checkpoint_dir, fingerprint=fp, every=checkpoint_every,
                                    meta={"data": str(data), "target": target})
            callbacks.append(cb)
        est = _estimator(task, s, callbacks, verbose)
        caught: list[str] = []
        t0 = time.perf_counter()
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            est._validate_params()
            fit_dask(est, X_tr, y_tr, None, partial=False, resume_from=resume_state,
                     scheduler=client, persist=persist, block_names=names)
        seconds = time.perf_counter() - t0
        for item in w:
            if issubclass(item.category, ConvergenceWarning):
                text = " ".join(str(item.message).split())
                if text not in caught:
                    caught.append(text)
        if cb is not None:
            cb.save(est.state_)
        # the metrics read X and y of a file in one task (an unoptimized graph), under keys
        # other than the fit's
        metrics = {"train": _metrics(task, est, *_blocks(stats, target, encoder, task, s, False,
                                                          y_dtype, cache, fresh=True), client),
                   "test": _metrics(task, est, *_blocks(stats, target, encoder, task, s, True,
                                                         y_dtype, cache, fresh=True), client)}
    from gdlab.estimators.persist import TabularModel

    n_test = sum(st["n_test"] for st in stats)
    n_rows = sum(st["n"] for st in stats)
    return FitResult(
        model=TabularModel(est, encoder, target, task), settings=s, task=task,
        inferred=inferred, summary=summary, onehot_columns=list(encoder.categorical_columns_),
        n_train=n_rows - n_test, n_test=n_test, metrics=metrics, epochs=int(est.n_iter_),
        seconds=seconds, converged=bool(est.converged_), history=list(est.history_),
        warnings=caught, checkpoint=ckpt_path, resumed_from_epoch=resumed_from, notes=notes)


# ---- predict -----------------------------------------------------------------------------------
def predict_file(path: str, out: str, est: Any, encoder: FeatureEncoder, target: str,
                 proba: bool, allow_extra: bool) -> int:
    """Predictions for one file, written as one Parquet file ``out`` (runs on a worker)."""
    from gdlab.io.atomic import atomic_write_bytes

    df = read_table(path)
    X_df = df.drop(columns=[target]) if target in [str(c) for c in df.columns] else df
    X = encoder.transform(X_df, path=path, allow_extra=allow_extra, order="F")
    result = df.reset_index(drop=True)
    col = f"predicted_{target}"
    while col in result.columns:
        col += "_"
    result[col] = est.predict(X)
    if proba:
        P = est.predict_proba(X)
        for k, c in enumerate(est.classes_):
            result[f"proba_{c}"] = P[:, k]
    import io

    buf = io.BytesIO()
    result.to_parquet(buf, index=False)
    atomic_write_bytes(Path(out), buf.getvalue())
    return len(result)


def predict_files(model: Any, data: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                  *, proba: bool = False, allow_extra: bool = False,
                  scheduler: str | None = None, workers: int | None = None
                  ) -> tuple[int, int, str]:
    """Predict every file of DATA on a cluster into the Parquet directory ``out_dir`` (one
    ``part-NNNNN.parquet`` per input file, in file order). Returns (rows, files, cluster
    line)."""
    import dask

    from gdlab.estimators._dask import _light

    files = data_files(data)
    if proba and model.task == "regression":
        raise ValueError("--proba needs a classifier; this model is a regression.")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataFileError(f"{out}: exists and is not a directory; --out for many files is a "
                            "directory of Parquet files.")
    out.mkdir(parents=True, exist_ok=True)
    est = _light(model.estimator)
    with dask_client(scheduler, workers) as (client, line):
        counts = dask.compute([dask.delayed(predict_file, pure=False)(
            str(f), str(out / f"part-{i:05d}.parquet"), est, model.encoder, model.target,
            proba, allow_extra) for i, f in enumerate(files)], scheduler=client)[0]
    return int(sum(counts)), len(files), line
