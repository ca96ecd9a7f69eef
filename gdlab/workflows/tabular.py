"""Fitting, predicting and evaluating on tables (CSV / Parquet): the logic behind ``gdlab fit``,
``gdlab predict`` and ``gdlab evaluate``, without any printing.

The steps of :func:`fit_table`:

1. read the file (:func:`gdlab.io.read_table`), split off the target column;
2. infer the task from the target (or check the model asked for fits the target);
3. split rows into training and held-out sets, deterministically from ``seed`` (stratified
   by class for classifiers when every class has at least two rows);
4. fit the :class:`gdlab.io.FeatureEncoder` (one-hot, standardization) on the training rows
   only, so the held-out rows are encoded as new data would be;
5. fit the estimator, optionally writing checkpoints and resuming from one;
6. measure the metrics on both sets with :mod:`sklearn.metrics`.

Checkpoints (``checkpoint_dir``) hold the whole training state
(:mod:`gdlab.io.checkpoint`) and a fingerprint of the encoded arrays and of every setting
that changes the result; resuming with other data or settings is refused.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gdlab.estimators.persist import TabularModel, load_model
from gdlab.io.safe_npz import ModelFileError
from gdlab.io.tables import (
    DataFileError,
    FeatureEncoder,
    infer_task,
    read_table,
    split_features_target,
    task_summary,
)

__all__ = [
    "MODEL_FOR_TASK",
    "FitResult",
    "FitSettings",
    "evaluate_table",
    "fit_table",
    "load_tabular_model",
    "metrics_for",
    "predict_table",
]

MODEL_FOR_TASK = {"regression": "linear", "binary": "logistic", "multiclass": "softmax"}
_TASK_FOR_MODEL = {"linear": "regression", "logistic": "binary", "softmax": "multiclass"}
# Environment switch used only by the tests: resume without the generator state, to show
# that bit-identical resumption needs it (the run then differs from an uninterrupted one).
SKIP_RNG_ENV = "GDLAB_TEST_SKIP_RNG_RESTORE"

Array = NDArray[Any]


@dataclass
class FitSettings:
    """Every option of a table fit. All of them except ``verbose`` are in the fingerprint."""

    model: str = "auto"  # 'auto', 'linear', 'logistic', 'softmax'
    optimizer: str = "adam"
    lr: float | None = None  # None: a good default for the optimizer (gdlab.teach.compare)
    schedule: str | None = None
    batch_size: int | str | None = "auto"  # None: full batch
    epochs: int = 200
    alpha: float = 1e-4
    tol: float | None = 1e-4
    n_iter_no_change: int = 5
    early_stopping: bool = False
    standardize: bool = True
    categorical: str = "onehot"
    test_size: float = 0.2
    seed: int = 0

    def validate(self) -> None:
        from gdlab.core._validation import check_choice, check_scalar

        check_choice(self.model, "model", ("auto", "linear", "logistic", "softmax"))
        check_choice(self.categorical, "categorical", ("onehot", "error"))
        check_scalar(self.test_size, "test_size", low=0.0, high=1.0, closed="left",
                     owner="fit")
        check_scalar(self.epochs, "epochs", kind=int, low=1, owner="fit")

    def fingerprint_settings(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FitResult:
    """What :func:`fit_table` produced."""

    model: TabularModel
    settings: FitSettings  # with the learning rate resolved
    task: str
    inferred: bool
    summary: str  # task_summary line, e.g. "target 'y': 3 classes (...) -> multiclass (...)"
    onehot_columns: list[str]
    n_train: int
    n_test: int
    metrics: dict[str, dict[str, float | None]]  # {"train": {...}, "test": {...}}
    epochs: int
    seconds: float
    converged: bool
    history: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)  # convergence warnings, one line each
    checkpoint: Path | None = None
    resumed_from_epoch: int | None = None  # None: not resumed
    notes: list[str] = field(default_factory=list)  # e.g. "no checkpoint yet: started afresh"


# ------------------------------------------------------------------------------- helpers


def _check_model_fits_target(model: str, task: str, y: pd.Series, src: str) -> None:
    name = str(y.name)
    if model == "linear" and task != "regression":
        if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
            raise DataFileError(
                f"{src}: the target column {name!r} is not numeric; --model linear needs "
                "numbers (use --model auto, logistic or softmax for classes)."
            )
    if model in ("logistic", "softmax") and task == "regression":
        v = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(v == np.round(v)):
            raise DataFileError(
                f"{src}: the target column {name!r} has non-integer values (continuous); "
                f"--model {model} needs class labels (use --model linear or auto)."
            )
    if model == "logistic":
        k = int(y.nunique())
        if k != 2:
            raise DataFileError(
                f"{src}: --model logistic needs exactly 2 classes but the target column "
                f"{name!r} has {k}; use --model softmax (or auto)."
            )


def _task_of(model: str, inferred_task: str) -> str:
    if model == "softmax":
        return "multiclass"
    return _TASK_FOR_MODEL[model] if model in _TASK_FOR_MODEL else inferred_task


def _target_array(y: pd.Series, task: str) -> Array:
    if task == "regression":
        return pd.to_numeric(y, errors="raise").to_numpy(dtype=np.float64)
    if pd.api.types.is_bool_dtype(y.dtype):
        return y.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(y.dtype):
        return y.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(y.dtype):
        v = y.to_numpy(dtype=np.float64)
        # 0.0 / 1.0 labels read from a float column: integers print and save more clearly
        return v.astype(np.int64) if np.all(v == np.round(v)) else v
    return y.astype(str).to_numpy(dtype=object)


def _split(n: int, y: Array, task: str, test_size: float, seed: int
           ) -> tuple[Array, Array]:
    """Row positions (train, test); deterministic from `seed`, stratified when possible."""
    idx = np.arange(n)
    if test_size == 0.0:
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    n_test = int(np.ceil(test_size * n))
    if n_test < 1 or n - n_test < 2:
        raise DataFileError(
            f"--test-size {test_size} leaves {n - n_test} training and {n_test} held-out rows "
            f"out of {n}; use a smaller --test-size (or 0 for no held-out set) or more data."
        )
    if task != "regression":
        _, counts = np.unique(y.astype(str) if y.dtype == object else y, return_counts=True)
        if counts.min() >= 2 and n_test >= len(counts) and n - n_test >= len(counts):
            tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
            return np.sort(tr), np.sort(te)
    tr, te = train_test_split(idx, test_size=test_size, random_state=seed)
    return np.sort(tr), np.sort(te)


def _fit_encoder(full: FeatureEncoder, X_df: pd.DataFrame, tr: Array, s: FitSettings,
                 path: str | os.PathLike[str]) -> FeatureEncoder:
    """The column encoder: kinds and categories from every row (``full``, fitted on all rows
    without scaling), scaling from the training rows.

    Column kinds (numeric or categorical) and the checks (missing, infinite, non-numeric
    cells) look at the whole file, so a message points at the line wherever it is and a
    column does not change kind with the split; the one-hot vocabulary covers every row, so
    a rare category that only lands in the held-out rows is not an error. The means and
    scales come from the training rows only, as they would for new data.
    """
    meta = {**full.to_meta(), "standardize": bool(s.standardize)}
    n_out = full.n_features_out_
    means, scales = np.zeros(n_out), np.ones(n_out)
    if s.standardize and full.numeric_columns_:
        pos: list[int] = []
        j = 0
        for name in full.feature_names_in_:
            if name in full.categories_:
                j += len(full.categories_[name])
            else:
                pos.append(j)
                j += 1
        M = full.transform(X_df.iloc[tr], path=path)[:, pos]
        means[pos] = M.mean(axis=0)
        sd = M.std(axis=0)
        # same rule as FeatureEncoder.fit: a constant column keeps scale 1
        sd[sd <= 1e-12 * np.maximum(1.0, np.abs(means[pos]))] = 1.0
        scales[pos] = sd
    return FeatureEncoder.from_state({"encoder.means": means, "encoder.scales": scales}, meta,
                                     path=path)


def _finite_or_none(v: float) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def metrics_for(task: str, estimator: Any, X: Array, y: Array) -> dict[str, float | None]:
    """Metrics of a fitted estimator on (X, y) with :mod:`sklearn.metrics`.

    Regression: ``r2``, ``mae``, ``rmse``. Classification: ``accuracy``, ``log_loss`` (with
    every training class as a label), ``f1_macro``. Also ``n`` (rows). Undefined values
    (R^2 of fewer than two rows) are None.
    """
    from sklearn import metrics

    n = int(X.shape[0])
    out: dict[str, float | None] = {"n": n}
    if n == 0:
        return out
    if task == "regression":
        y_hat = estimator.predict(X)
        out["r2"] = _finite_or_none(metrics.r2_score(y, y_hat)) if n >= 2 else None
        out["mae"] = _finite_or_none(metrics.mean_absolute_error(y, y_hat))
        out["rmse"] = _finite_or_none(np.sqrt(metrics.mean_squared_error(y, y_hat)))
        return out
    classes = estimator.classes_
    proba = estimator.predict_proba(X)
    y_hat = classes[np.argmax(proba, axis=1)]
    out["accuracy"] = _finite_or_none(metrics.accuracy_score(y, y_hat))
    out["log_loss"] = _finite_or_none(metrics.log_loss(y, proba, labels=classes))
    out["f1_macro"] = _finite_or_none(
        metrics.f1_score(y, y_hat, average="macro", labels=classes, zero_division=0))
    return out


def _schedule(name: str | None, epochs: int) -> Any:
    """The schedule's name: the estimators scale a bare name to the run
    (:func:`gdlab.core.schedules.schedule_for_run`: 'exponential' decays to 1 % at the last epoch,
    'cosine' has T_max = epochs, 'step' divides by 10 every third of the run, ...)."""
    return name


def _estimator(task: str, s: FitSettings, callbacks: list[Any], verbose: int) -> Any:
    from gdlab.teach.compare import estimator_for

    return estimator_for(
        task, optimizer=s.optimizer, lr=s.lr, schedule=_schedule(s.schedule, s.epochs),
        batch_size=s.batch_size,
        epochs=s.epochs, alpha=s.alpha, tol=s.tol, n_iter_no_change=s.n_iter_no_change,
        early_stopping=s.early_stopping, random_state=s.seed, verbose=verbose,
        callbacks=callbacks,
    )


# ----------------------------------------------------------------------------------- fit


def fit_table(
    path: str | os.PathLike[str],
    target: str,
    settings: FitSettings | None = None,
    *,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    verbose: int = 0,
) -> FitResult:
    """Fit a model on the table in ``path`` predicting column ``target``.

    Parameters
    ----------
    path : path-like
        CSV / TSV (optionally .gz) or Parquet file.
    target : str
        The target column.
    settings : FitSettings
    checkpoint_dir : path-like, optional
        Write ``checkpoint.npz`` there every ``checkpoint_every`` epochs and at the end.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir``. With no checkpoint there yet the
        fit starts from epoch 0 (and says so in ``notes``), so the same command can simply be
        run again after a crash. Without ``resume``, an existing checkpoint is refused rather
        than overwritten.
    verbose : int
        1: a progress bar on stderr when it is a terminal.

    Returns
    -------
    FitResult

    Raises
    ------
    DataFileError, ModelFileError, ValueError
        One-line messages naming the file, column or line, or the option.
    """
    s = settings or FitSettings()
    s.validate()
    src = str(path)
    df = read_table(path)
    X_df, y_series = split_features_target(df, target, path=path)
    inferred_task = infer_task(y_series, path=path)
    inferred = s.model == "auto"
    if not inferred:
        _check_model_fits_target(s.model, inferred_task, y_series, src)
    task = _task_of(s.model, inferred_task)
    y = _target_array(y_series, task)
    # every check of the feature cells runs on the whole file before anything heavy is
    # imported, so a bad file is reported quickly
    full = FeatureEncoder(categorical=s.categorical,  # type: ignore[arg-type]
                          standardize=False).fit(X_df, path=path)
    tr, te = _split(len(df), y, task, s.test_size, s.seed)
    encoder = _fit_encoder(full, X_df, tr, s, path)
    X_train = encoder.transform(X_df.iloc[tr], path=path)
    X_test = encoder.transform(X_df.iloc[te], path=path)
    y_train, y_test = y[tr], y[te]
    if task != "regression" and len(np.unique(y_train.astype(str))) < 2:
        raise DataFileError(
            f"{src}: the training rows of the target column {target!r} hold a single class; "
            "a classifier needs at least two (use a smaller --test-size or more data)."
        )

    from gdlab.io.checkpoint import (
        CHECKPOINT_NAME,
        CheckpointCallback,
        fingerprint,
        load_checkpoint,
    )

    if s.lr is None:
        from gdlab.teach.compare import DEFAULT_LRS

        s = dataclasses.replace(s, lr=DEFAULT_LRS.get(s.optimizer, 0.01))
    notes: list[str] = []
    callbacks: list[Any] = []
    resume_state = None
    resumed_from = None
    cb = None
    ckpt_path = None
    if checkpoint_dir is not None:
        fp = fingerprint([X_train, y_train, X_test, y_test],
                         {**s.fingerprint_settings(), "task": task, "target": target,
                          "features": list(encoder.feature_names_out_)})
        ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME
        exists = ckpt_path.exists()
        if exists and not resume:
            raise ModelFileError(
                f"{ckpt_path}: a checkpoint already exists; pass --resume to continue it, or "
                "delete it (or use another --checkpoint directory) to start afresh."
            )
        if exists:
            restore_rng = os.environ.get(SKIP_RNG_ENV, "") != "1"
            resume_state, _ = load_checkpoint(ckpt_path, fingerprint=fp,
                                              restore_rng=restore_rng)
            resumed_from = int(resume_state.epoch)
        elif resume:
            notes.append(f"no checkpoint in {checkpoint_dir} yet; starting from epoch 0")
        cb = CheckpointCallback(checkpoint_dir, fingerprint=fp, every=checkpoint_every,
                                meta={"data": src, "target": target})
        callbacks.append(cb)

    est = _estimator(task, s, callbacks, verbose)
    caught: list[str] = []
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        est.fit(X_train, y_train, resume_from=resume_state)
    seconds = time.perf_counter() - t0
    from sklearn.exceptions import ConvergenceWarning

    for item in w:
        if not issubclass(item.category, ConvergenceWarning):
            # not ours to report: hand it back to the warnings machinery unchanged
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
            continue
        text = " ".join(str(item.message).split())
        if text not in caught:
            caught.append(text)
    if cb is not None:
        cb.save(est.state_)  # the final state, so that --resume on a finished run is a no-op

    metrics = {"train": metrics_for(task, est, X_train, y_train),
               "test": metrics_for(task, est, X_test, y_test)}
    model = TabularModel(est, encoder, target, task)
    return FitResult(
        model=model, settings=s, task=task, inferred=inferred, summary=task_summary(y_series, task),  # type: ignore[arg-type]
        onehot_columns=list(encoder.categorical_columns_), n_train=len(tr), n_test=len(te),
        metrics=metrics, epochs=int(est.n_iter_), seconds=seconds,
        converged=bool(est.converged_), history=list(est.history_), warnings=caught,
        checkpoint=ckpt_path, resumed_from_epoch=resumed_from, notes=notes,
    )


# ------------------------------------------------------------------- predict and evaluate


def load_tabular_model(path: str | os.PathLike[str]) -> TabularModel:
    """Load a model file written by ``gdlab fit`` (one with its column encoder)."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{p}: no such model file; check the path.")
    model = load_model(p)
    if not isinstance(model, TabularModel):
        raise ModelFileError(
            f"{p}: this model file has no column names (saved from Python with est.save); "
            "predict and evaluate from the command line need a model written by gdlab fit."
        )
    return model


def _drop_target(model: TabularModel, df: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    if model.target in [str(c) for c in df.columns]:
        return df.drop(columns=[model.target]), True
    return df, False


def predict_table(model: TabularModel, data: str | os.PathLike[str], *,
                  allow_extra: bool = False) -> tuple[pd.DataFrame, Array, bool]:
    """Predictions for every row of the table in ``data``.

    Columns are matched by name; missing or unexpected columns raise a
    :class:`DataFileError` listing them. A column named like the model's target is dropped
    (the returned flag says so). ``allow_extra`` ignores other unknown columns.

    Returns
    -------
    df : DataFrame, shape (n_rows, n_columns) -- the table as read
    y_hat : ndarray, shape (n_rows,)
    dropped_target : bool
    """
    df = read_table(data)
    X_df, dropped = _drop_target(model, df)
    y_hat = model.predict(X_df, path=data, allow_extra=allow_extra)
    return df, np.asarray(y_hat), dropped


def evaluate_table(model: TabularModel, data: str | os.PathLike[str],
                   target: str | None = None, *, allow_extra: bool = False
                   ) -> dict[str, float | None]:
    """Metrics of ``model`` on the table in ``data`` (target: the model's by default)."""
    target = model.target if target is None else target
    df = read_table(data)
    X_df, y_series = split_features_target(df, target, path=data)
    y = _target_array(y_series, model.task)
    X = model.transform(X_df, path=data, allow_extra=allow_extra)
    if model.task != "regression":
        known = {str(c) for c in model.estimator.classes_}
        unseen = [v for v in pd.unique(y) if str(v) not in known]
        if unseen:
            raise DataFileError(
                f"{data}: the target column {target!r} has class(es) "
                f"{', '.join(repr(v) for v in unseen[:6])} the model was not trained on "
                f"(known: {', '.join(repr(str(c)) for c in model.estimator.classes_)})."
            )
        classes = model.estimator.classes_
        if classes.dtype == object:
            y = y.astype(str).astype(object)
        else:
            y = y.astype(classes.dtype)
    return metrics_for(model.task, model.estimator, X, y)
