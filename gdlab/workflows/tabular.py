"""Fitting, predicting and evaluating on tables (CSV / Parquet): the logic behind ``gdlab fit``,
``gdlab predict`` and ``gdlab evaluate``, without any printing.

The steps of :func:`fit_table`:

1. read the file (:func:`gdlab.io.read_table`, separator sniffed unless given), keep the
   ``features`` columns or remove the ``drop`` ones, apply the ``missing`` rule's row drops;
2. infer the task from the target (or check the model asked for fits the target);
3. split rows into training and held-out sets, deterministically from ``seed`` (stratified
   by class for classifiers when every class has at least two rows); integer labels whose
   held-out rows hold a value the training rows lack are numbers (regression);
4. fit the :class:`gdlab.io.FeatureEncoder` (fill values, one-hot, standardization) with
   statistics from the training rows only, so the held-out rows are encoded as new data
   would be;
5. fit the estimator with its own default hyperparameters except those given, optionally
   writing checkpoints and resuming from one;
6. measure the metrics on both sets with :mod:`sklearn.metrics`, and with ``baseline`` those
   of scikit-learn's closed-form ``LinearRegression`` or lbfgs ``LogisticRegression`` on the
   same encoded split.

Checkpoints (``checkpoint_dir``) hold the whole training state
(:mod:`gdlab.io.checkpoint`) and a fingerprint of the encoded arrays and of every setting
that changes the result; resuming with other data or settings is refused.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gdlab.estimators.persist import TabularModel, load_model
from gdlab.io.safe_npz import ModelFileError
from gdlab.io.tables import (
    MISSING_RULES,
    UNKNOWN_RULES,
    DataFileError,
    FeatureEncoder,
    _col,
    _names,
    _short,
    _where,
    infer_task,
    read_table,
    split_features_target,
    task_rule,
    task_summary,
)

__all__ = [
    "HYPERPARAMETERS",
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


# the estimator's hyperparameters a table fit passes on only when given (None: not given);
# ``tol`` given as None is spelled UNLIMITED here, since None means "not given"
HYPERPARAMETERS = ("optimizer", "lr", "schedule", "batch_size", "epochs", "alpha", "tol",
                   "n_iter_no_change", "early_stopping")
UNLIMITED = "none"


@dataclass
class FitSettings:
    """Every option of a table fit. All of them except ``verbose`` are in the fingerprint.

    Hyperparameters left at None are not passed to the estimator, which then uses its own
    defaults (:class:`gdlab.LinearRegression` and the classifiers); ``tol=UNLIMITED`` passes
    ``tol=None`` (run every epoch).
    """

    model: str = "auto"  # 'auto', 'linear', 'logistic', 'softmax', 'mlp'
    optimizer: str | None = None
    lr: float | None = None
    schedule: str | None = None
    batch_size: int | str | None = None  # 'full': full batch
    epochs: int | None = None
    alpha: float | None = None
    tol: float | str | None = None
    n_iter_no_change: int | None = None
    early_stopping: bool | None = None
    standardize: bool = True
    categorical: str = "onehot"
    missing: str = "error"
    max_categories: int | None = None
    features: Sequence[str] | None = None  # keep only these feature columns
    drop: Sequence[str] | None = None  # remove these columns
    sep: str | None = None  # None: sniffed
    test_size: float = 0.2
    seed: int = 0
    baseline: bool = False
    # --model mlp: units per hidden layer, activation(s), dropout (None: the estimator's)
    hidden: Sequence[int] | None = None
    activation: str | Sequence[str] | None = None
    dropout: float | None = None

    def validate(self) -> None:
        from gdlab.core._validation import check_choice, check_scalar

        check_choice(self.model, "model", ("auto", "linear", "logistic", "softmax", "mlp"))
        if self.model != "mlp" and (self.hidden, self.activation, self.dropout) != (
                None, None, None):
            raise ValueError("--hidden, --activation and --dropout set up a network; add "
                             "--model mlp.")
        check_choice(self.categorical, "categorical", ("onehot", "error"))
        check_choice(self.missing, "missing", MISSING_RULES)
        check_scalar(self.test_size, "test_size", low=0.0, high=1.0, closed="left",
                     owner="fit")
        if self.epochs is not None:
            check_scalar(self.epochs, "epochs", kind=int, low=1, owner="fit")
        if self.max_categories is not None:
            check_scalar(self.max_categories, "max_categories", kind=int, low=2, owner="fit")

    def hyperparameters(self) -> dict[str, Any]:
        """The estimator's hyperparameters that were given, as the estimator takes them."""
        out: dict[str, Any] = {}
        for name in HYPERPARAMETERS:
            v = getattr(self, name)
            if v is None:
                continue
            if name == "tol" and v == UNLIMITED:
                v = None
            if name == "batch_size" and v == "full":
                v = None
            out[name] = v
        return out

    def fingerprint_settings(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["features"] = list(self.features) if self.features is not None else None
        d["drop"] = list(self.drop) if self.drop is not None else None
        d["hidden"] = list(self.hidden) if self.hidden is not None else None
        if self.activation is not None and not isinstance(self.activation, str):
            d["activation"] = list(self.activation)
        return d


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
    rule: str = ""  # why the task was chosen (task_rule), printed with the summary
    params: dict[str, Any] = field(default_factory=dict)  # the estimator's hyperparameters
    filled: dict[str, int] = field(default_factory=dict)  # column -> missing cells filled
    dropped_rows: int = 0  # rows removed by the missing rule (features, or a missing target)
    baseline: dict[str, Any] | None = None  # scikit-learn's reference on the same split


# ------------------------------------------------------------------------------- helpers


def _check_model_fits_target(model: str, task: str, y: pd.Series, src: str) -> None:
    name = str(y.name)
    if model == "linear" and task != "regression":
        if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
            raise DataFileError(
                f"{src}: the target column {_col(name)} is not numeric; --model linear needs "
                "numbers (use --model auto, logistic or softmax for classes)."
            )
    if model in ("logistic", "softmax") and task == "regression":
        v = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(v == np.round(v)):
            raise DataFileError(
                f"{src}: the target column {_col(name)} has non-integer values (continuous); "
                f"--model {model} needs class labels (use --model linear or auto)."
            )
    if model == "logistic":
        k = int(y.nunique())
        if k != 2:
            raise DataFileError(
                f"{src}: --model logistic needs exactly 2 classes but the target column "
                f"{_col(name)} has {k}; use --model softmax (or auto)."
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


def _select_columns(df: pd.DataFrame, target: str, s: FitSettings, src: str
                    ) -> pd.DataFrame:
    """Keep the target and the ``features`` columns (in that order), or remove ``drop``."""
    cols = [str(c) for c in df.columns]
    for option, names in (("--features", s.features), ("--drop", s.drop)):
        if names is None:
            continue
        unknown = [c for c in names if c not in cols]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], cols, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataFileError(
                f"{src}: {option} names no column(s) {_names(unknown)}{hint}; available "
                f"columns: {_names(cols)}."
            )
        if target in names:
            raise DataFileError(
                f"{src}: {option} names the target column {_col(target)}; list feature columns "
                "only (the target is given by --target)."
            )
    if s.features is not None:
        df = df[[*s.features, *([target] if target in cols else [])]]
    if s.drop is not None:
        df = df.drop(columns=list(s.drop))
    return df


def _drop_missing_rows(df: pd.DataFrame, target: str, missing: str, src: str
                       ) -> tuple[pd.DataFrame, int]:
    """Rows the ``missing`` rule removes: any missing cell with 'drop', a missing target with
    an imputing rule (a target is never filled in); 'error' removes none."""
    if missing == "error" or target not in [str(c) for c in df.columns]:
        return df, 0
    na = df.isna().any(axis=1) if missing == "drop" else df[target].isna()
    if not na.any():
        return df, 0
    kept = df.loc[~na.to_numpy()]
    if len(kept) == 0:
        raise DataFileError(
            f"{src}: every row has a missing cell, so --missing {missing} leaves no rows; "
            "use --missing mean|median|most-frequent, or --drop the emptiest columns."
        )
    return kept, int(na.sum())


def _integer_labels(y: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype))


def _unseen_classes(y: Array, tr: Array, te: Array) -> list[Any]:
    """Values of the held-out rows that no training row has, in order of appearance."""
    seen = {str(v) for v in y[tr]}
    out: list[Any] = []
    for v in y[te]:
        if str(v) not in seen and all(str(v) != str(u) for u in out):
            out.append(v)
    return out


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


def _summary(y: pd.Series, task: str, model: str) -> str:
    """task_summary's line; with --model mlp it names the network instead of the GLM."""
    line = task_summary(y, task)  # type: ignore[arg-type]  # pandas-stubs: Series[Any]
    if model != "mlp":
        return line
    head, _, _ = line.rpartition(" (")
    net = "MLPRegressor" if task == "regression" else "MLPClassifier"
    return f"{head} (a network: {net})"


def _estimator(task: str, s: FitSettings, callbacks: list[Any], verbose: int) -> Any:
    """The gdlab estimator for the task with its own defaults, except the hyperparameters the
    settings give (a schedule given by name is scaled to the run by the estimator:
    :func:`gdlab.core.schedules.schedule_for_run`)."""
    from gdlab.estimators.linear import LinearRegression, LogisticRegression, SoftmaxRegression

    if s.model == "mlp":
        from gdlab.workflows.networks import mlp_estimator

        return mlp_estimator(task, s.hidden, s.activation, s.dropout, **s.hyperparameters(),
                             random_state=s.seed, verbose=verbose, callbacks=callbacks)
    classes: dict[str, type] = {"regression": LinearRegression, "binary": LogisticRegression,
                                "multiclass": SoftmaxRegression}
    return classes[task](**s.hyperparameters(), random_state=s.seed, verbose=verbose,
               callbacks=callbacks)


def _json_params(est: Any) -> dict[str, Any]:
    return {k: v for k, v in est.get_params(deep=False).items()
            if k in HYPERPARAMETERS and (v is None or isinstance(v, bool | int | float | str))}


def baseline_metrics(task: str, X_train: Array, y_train: Array, X_test: Array, y_test: Array
                     ) -> dict[str, Any]:
    """scikit-learn's reference on the same encoded split: the closed-form least-squares
    ``LinearRegression`` for regression, ``LogisticRegression`` (lbfgs, its default C=1.0,
    max_iter=10_000) for classes; its metrics on both sets, as :func:`metrics_for` gives."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    if task == "regression":
        ref: Any = LinearRegression().fit(X_train, y_train)
        name = "scikit-learn LinearRegression (closed form)"
    else:
        ref = LogisticRegression(max_iter=10_000).fit(X_train, y_train)
        name = "scikit-learn LogisticRegression (lbfgs, C=1)"
    return {"model": name, "train": metrics_for(task, ref, X_train, y_train),
            "test": metrics_for(task, ref, X_test, y_test)}


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
    on_ready: Callable[[FitResult], None] | None = None,
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
    on_ready : callable, optional
        Called with the result so far (task, summary, rule, encoder, split sizes; no metrics
        yet) just before training starts, so that a caller can say what was inferred first.

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
    df = read_table(path, sep=s.sep)
    df = _select_columns(df, target, s, src)
    df, dropped_rows = _drop_missing_rows(df, target, s.missing, src)
    X_df, y_series = split_features_target(df, target, path=path)
    inferred_task = infer_task(y_series, path=path)
    inferred = s.model in ("auto", "mlp")  # a network's task comes from the target too
    if not inferred:
        _check_model_fits_target(s.model, inferred_task, y_series, src)
    task = _task_of(s.model, inferred_task)
    rule = task_rule(y_series, task) if inferred else f"as --model {s.model} asks"  # type: ignore[arg-type]  # pandas-stubs: Series[Any]
    y = _target_array(y_series, task)
    tr, te = _split(len(df), y, task, s.test_size, s.seed)
    unseen = _unseen_classes(y, tr, te) if task != "regression" else []
    if unseen and inferred and task == "multiclass" and _integer_labels(y_series):
        # integer labels whose held-out rows hold a value never seen in training are numbers
        task = "regression"
        rule = (f"held-out value {_short(unseen[0])} is absent from the training rows, so the "
                "integers are numbers, not class labels; --model softmax treats them as classes")
        y = _target_array(y_series, task)
        tr, te = _split(len(df), y, task, s.test_size, s.seed)
    elif unseen:
        i = int(te[[str(v) for v in y[te]].index(str(unseen[0]))])
        raise DataFileError(
            f"{src}: class {_short(unseen[0])} of the target column {_col(target)} is only in the "
            f"held-out rows ({_where(df.index, i)}); a classifier cannot learn a class it never "
            "saw: add rows of that class, remove them, or use --test-size 0."
        )
    encoder = FeatureEncoder(categorical=s.categorical,  # type: ignore[arg-type]  # str checked by FitSettings
                             standardize=bool(s.standardize), max_categories=s.max_categories,
                             missing=s.missing).fit(X_df, path=path, fit_rows=tr)
    X_train = encoder.transform(X_df.iloc[tr], path=path)
    X_test = encoder.transform(X_df.iloc[te], path=path)
    y_train, y_test = y[tr], y[te]
    if task != "regression" and len(np.unique(y_train.astype(str))) < 2:
        raise DataFileError(
            f"{src}: the training rows of the target column {_col(target)} hold a single class; "
            "a classifier needs at least two (use a smaller --test-size or more data)."
        )
    filled = ({str(c): int(n) for c, n in X_df.isna().sum().items() if n}
              if encoder.imputes else {})

    from gdlab.io.checkpoint import (
        CHECKPOINT_NAME,
        CheckpointCallback,
        fingerprint,
        load_checkpoint,
    )

    notes: list[str] = []
    callbacks: list[Any] = []
    resume_state = None
    resumed_from = None
    cb = None
    ckpt_path = None
    est = _estimator(task, s, callbacks, verbose)
    if checkpoint_dir is not None:
        fp = fingerprint([X_train, y_train, X_test, y_test],
                         {**s.fingerprint_settings(), "params": _json_params(est), "task": task,
                          "target": target, "features": list(encoder.feature_names_out_)})
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

    result = FitResult(
        model=TabularModel(est, encoder, target, task), settings=s, task=task,
        inferred=inferred, summary=_summary(y_series, task, s.model),
        onehot_columns=list(encoder.categorical_columns_), n_train=len(tr), n_test=len(te),
        metrics={}, epochs=0, seconds=0.0, converged=False, history=[],
        checkpoint=ckpt_path, resumed_from_epoch=resumed_from, notes=notes, rule=rule,
        params=_json_params(est), filled=filled, dropped_rows=dropped_rows,
    )
    if on_ready is not None:
        on_ready(result)
    caught: list[str] = []
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        est.fit(X_train, y_train, resume_from=resume_state)
    result.seconds = time.perf_counter() - t0
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

    result.metrics = {"train": metrics_for(task, est, X_train, y_train),
                      "test": metrics_for(task, est, X_test, y_test)}
    result.epochs = int(est.n_iter_)
    result.converged = bool(est.converged_)
    result.history = list(est.history_)
    result.warnings = caught
    result.params = _json_params(est)
    if s.baseline:
        result.baseline = baseline_metrics(task, X_train, y_train, X_test, y_test)
    return result


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


def _complete_rows(model: TabularModel, X_df: pd.DataFrame) -> NDArray[np.bool_]:
    """Rows the model can take: all of them, except rows with a missing cell in a training
    column when the model was fitted with ``--missing drop``."""
    if model.encoder.missing != "drop":
        return np.ones(len(X_df), dtype=bool)
    cols = [c for c in X_df.columns if str(c) in set(model.encoder.feature_names_in_)]
    return ~X_df[cols].isna().any(axis=1).to_numpy()


def _encode(model: TabularModel, X_df: pd.DataFrame, data: Any, allow_extra: bool,
            unknown: str | None) -> Array:
    if unknown is not None and unknown not in UNKNOWN_RULES:
        raise ValueError(f"The 'unknown' parameter must be one of {UNKNOWN_RULES}. Got "
                         f"{unknown!r} instead.")
    return model.encoder.transform(X_df, path=data, allow_extra=allow_extra, unknown=unknown)


def predict_table(model: TabularModel, data: str | os.PathLike[str], *,
                  allow_extra: bool = False, unknown: str | None = None,
                  sep: str | None = None) -> tuple[pd.DataFrame, Array, bool]:
    """Predictions for every row of the table in ``data``.

    Columns are matched by name; missing or unexpected columns raise a
    :class:`DataFileError` listing them. A column named like the model's target is dropped
    (the returned flag says so). ``allow_extra`` ignores other unknown columns. ``unknown``
    ('error' or 'ignore') overrides the model's rule for categories not seen in training.
    Missing cells follow the rule stored in the model: filled as in training, an error, or,
    for a model fitted with ``missing='drop'``, no prediction (NaN, or None for classes) for
    those rows.

    Returns
    -------
    df : DataFrame, shape (n_rows, n_columns) -- the table as read
    y_hat : ndarray, shape (n_rows,)
    dropped_target : bool
    """
    df = read_table(data, sep=sep)
    X_df, dropped = _drop_target(model, df)
    ok = _complete_rows(model, X_df)
    y_part = model.estimator.predict(_encode(model, X_df.loc[ok], data, allow_extra, unknown))
    y_part = np.asarray(y_part)
    if ok.all():
        return df, y_part, dropped
    y_hat = np.full(len(df), np.nan if y_part.dtype.kind in "fiu" else None,
                    dtype=np.float64 if y_part.dtype.kind in "fiu" else object)
    y_hat[ok] = y_part
    return df, y_hat, dropped


def evaluate_table(model: TabularModel, data: str | os.PathLike[str],
                   target: str | None = None, *, allow_extra: bool = False,
                   unknown: str | None = None, sep: str | None = None
                   ) -> dict[str, float | None]:
    """Metrics of ``model`` on the table in ``data`` (target: the model's by default).

    Rows with a missing target, and rows the model's ``missing='drop'`` rule removes, are left
    out (``n`` counts the rows measured)."""
    target = model.target if target is None else target
    df = read_table(data, sep=sep)
    if model.encoder.missing != "error" and target in [str(c) for c in df.columns]:
        df = df.loc[df[target].notna().to_numpy()]
    X_df, y_series = split_features_target(df, target, path=data)
    ok = _complete_rows(model, X_df)
    X_df, y_series = X_df.loc[ok], y_series.loc[ok]
    y = _target_array(y_series, model.task)
    X = _encode(model, X_df, data, allow_extra, unknown)
    if model.task != "regression":
        known = {str(c) for c in model.estimator.classes_}
        unseen = [v for v in pd.unique(y) if str(v) not in known]
        if unseen:
            raise DataFileError(
                f"{data}: the target column {_col(target)} has class(es) "
                f"{', '.join(_short(v) for v in unseen[:6])} the model was not trained on "
                f"(known: {_names(model.estimator.classes_)})."
            )
        classes = model.estimator.classes_
        if classes.dtype == object:
            y = y.astype(str).astype(object)
        else:
            y = y.astype(classes.dtype)
    return metrics_for(model.task, model.estimator, X, y)
