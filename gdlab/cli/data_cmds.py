"""`gdlab fit`, `gdlab predict`, `gdlab evaluate`: models on CSV / Parquet tables.

The work happens in :mod:`gdlab.workflows.tabular`; this module parses options and prints.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import click

from gdlab.cli._app import cli
from gdlab.cli._common import (
    SuggestChoice,
    check_output,
    optimizer_choice,
    print_table,
    schedule_choice,
)

_METRIC_LABELS = {"r2": "R^2", "mae": "MAE", "rmse": "RMSE", "accuracy": "accuracy",
                  "log_loss": "log-loss", "f1_macro": "F1 (macro)"}
_REG = ("r2", "mae", "rmse")
_CLF = ("accuracy", "log_loss", "f1_macro")


def _batch_size(value: str) -> int | str | None:
    v = value.strip().lower()
    if v == "full":
        return None
    if v == "auto":
        return "auto"
    try:
        n = int(v)
    except ValueError:
        n = 0
    if n < 1:
        raise click.BadParameter(f"must be a positive integer, 'full' or 'auto'; got {value!r}.",
                                 param_hint="--batch-size")
    return n


def _tol(value: str) -> float | None:
    if value.strip().lower() == "none":
        return None
    try:
        t = float(value)
    except ValueError:
        t = -1.0
    if not (t >= 0 and math.isfinite(t)):
        raise click.BadParameter(f"must be a number >= 0 or 'none'; got {value!r}.",
                                 param_hint="--tol")
    return t


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _warn(message: str) -> None:
    click.echo(f"gdlab: {message}", err=True)


_DASK_OPTIONS = {
    "engine": click.option(
        "--engine", default="memory", show_default=True, type=click.Choice(["memory", "dask"]),
        help="memory: read DATA into this process; dask: fit or predict on a Dask cluster, "
             "one block per file (DATA may be a directory or glob; docs/dask.md)."),
    "scheduler": click.option(
        "--scheduler", default=None, metavar="ADDRESS",
        help="With --engine dask: the address of a running Dask scheduler (default: start a "
             "LocalCluster on this machine)."),
    "workers": click.option(
        "--workers", default=None, type=click.IntRange(1, None),
        help="With --engine dask and no --scheduler: worker processes of the LocalCluster "
             "(default 2)."),
}


def _metric_rows(metrics: dict[str, dict[str, float | None]], task: str) -> list[list[str]]:
    names = _REG if task == "regression" else _CLF
    sets = [k for k in ("train", "test") if metrics.get(k, {}).get("n")]
    return [[_METRIC_LABELS[m]] + [_fmt(metrics[k].get(m)) for k in sets] for m in names]


def _hidden(value: str | None) -> list[int] | None:
    """--hidden 64,32 -> [64, 32]."""
    if value is None:
        return None
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"must be positive integers separated by commas, e.g. 64,32; "
                                 f"got {value!r}.", param_hint="--hidden")
    return sizes


def _activation(value: str | None) -> str | list[str] | None:
    """--activation relu -> 'relu'; --activation tanh,relu -> ['tanh', 'relu']."""
    if value is None:
        return None
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    return names[0] if len(names) == 1 else names


def _columns(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise click.BadParameter(f"expected comma-separated column names, got {value!r}.")
    return names


def _sep(value: str | None) -> str | None:
    if value is None:
        return None
    return {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(
        value.lower(), value)


def _inferred_lines(res: Any) -> list[str]:
    """What fit inferred and prepared, printed before training starts."""
    lines = [("inferred " if res.inferred else "") + f"{res.summary}; {res.rule}"]
    enc = res.model.encoder
    if res.dropped_rows:
        why = ("a missing cell" if enc.missing == "drop" else "a missing target")
        lines.append(f"--missing {enc.missing}: dropped {res.dropped_rows} row(s) with {why}")
    if res.filled:
        parts = []
        for c, n in res.filled.items():
            v = enc.fill_[c]
            parts.append(f"{c} ({n}, with {v:.6g})" if isinstance(v, float)
                         else f"{c} ({n}, with {v!r})")
        lines.append(f"--missing {enc.missing}: filled {', '.join(parts)}")
    if res.onehot_columns:
        parts = []
        for c in res.onehot_columns:
            rare = enc.infrequent_.get(c, [])
            extra = f", {len(rare)} grouped as infrequent" if rare else ""
            parts.append(f"{c} ({len(enc.categories_[c])} values{extra})")
        lines.append(f"one-hot encoded: {', '.join(parts)}")
    return lines


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--target", "-t", required=True, help="Name of the column to predict.")
@click.option("--model", default="auto", show_default=True,
              type=SuggestChoice(["auto", "linear", "logistic", "softmax", "mlp"]),
              help="auto: linear for numbers, logistic for two classes, softmax for more; an "
                   "integer target is classes only with at most min(20, sqrt(rows)) distinct "
                   "values, each held-out value seen in training. mlp: a neural network "
                   "(classifier or regressor by the same rule; see --hidden).")
@click.option("--hidden", "hidden_text", default=None, metavar="N,...",
              help="--model mlp: units per hidden layer, e.g. 64,32 (default: 100).")
@click.option("--activation", "activation_text", default=None, metavar="NAME[,NAME...]",
              help="--model mlp: relu, leaky_relu, elu, tanh, sigmoid, gelu or identity, one "
                   "for every hidden layer or one per layer (default: relu).")
@click.option("--dropout", default=None, type=click.FloatRange(0, 1, max_open=True),
              help="--model mlp: dropout rate of the hidden layers while training.")
@click.option("--optimizer", default=None, type=optimizer_choice(),
              help="Optimizer (default: the estimator's).")
@click.option("--lr", type=float, default=None,
              help="Learning rate (default: the estimator's).")
@click.option("--schedule", default=None, type=schedule_choice(),
              help="Learning-rate schedule name, e.g. 'exponential'.")
@click.option("--batch-size", "batch_size", default=None,
              help="Rows per step: an integer, 'full' (full batch) or 'auto' (full batch up "
                   "to 10,000 rows, else 256) (default: the estimator's).")
@click.option("--epochs", default=None, type=click.IntRange(1, None),
              help="Most epochs (default: the estimator's).")
@click.option("--alpha", default=None, type=click.FloatRange(0, None),
              help="L2 penalty alpha/2 ||W||^2 (default: the estimator's).")
@click.option("--tol", "tol_text", default=None,
              help="Stopping tolerance, or 'none' to run every epoch (default: the "
                   "estimator's).")
@click.option("--standardize/--no-standardize", default=True, show_default=True,
              help="Standardize numeric features (the means and scales are saved in the "
                   "model).")
@click.option("--categorical", default="onehot", show_default=True,
              type=SuggestChoice(["onehot", "error"]),
              help="Non-numeric feature columns: one-hot encode them, or stop with an error.")
@click.option("--missing", default="error", show_default=True,
              type=SuggestChoice(["error", "drop", "mean", "median", "most-frequent"]),
              help="Missing cells: stop naming the row, drop those rows, or fill them "
                   "(numeric columns: mean, median or most frequent of the training rows; "
                   "categorical columns: most frequent). Saved in the model for predict.")
@click.option("--max-categories", default=None, type=click.IntRange(2, None),
              help="At most N one-hot columns per categorical column: the N-1 most frequent "
                   "values and one for the rest (default: refuse more than 100 values).")
@click.option("--features", "features_text", default=None, metavar="COL,...",
              help="Use only these feature columns.")
@click.option("--drop", "drop_text", default=None, metavar="COL,...",
              help="Leave these columns out.")
@click.option("--sep", default=None,
              help="CSV separator, e.g. ';' or tab (default: sniffed from the file).")
@click.option("--test-size", default=0.2, show_default=True, type=click.FloatRange(0, 1,
              max_open=True), help="Share of rows held out for the metrics (0: none).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seeds the held-out split and the shuffles.")
@click.option("--early-stopping", is_flag=True, default=None,
              help="Hold out 10% of the training rows and stop when their score stalls.")
@click.option("--baseline", is_flag=True,
              help="Also fit scikit-learn's closed-form LinearRegression / lbfgs "
                   "LogisticRegression on the same split and print its metrics beside.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the model (.npz, with the column encoder).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the loss curve to this figure (.png, .svg or .pdf).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
@click.option("--checkpoint", "checkpoint_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for a checkpoint written atomically during the fit.")
@click.option("--checkpoint-every", default=1, show_default=True, type=click.IntRange(1, None),
              help="Write the checkpoint every N epochs (and at the end).")
@click.option("--resume", is_flag=True,
              help="Continue from the checkpoint in --checkpoint DIR (starts at epoch 0 when "
                   "there is none yet).")
@_DASK_OPTIONS["engine"]
@_DASK_OPTIONS["scheduler"]
@_DASK_OPTIONS["workers"]
@click.option("--persist/--no-persist", default=None,
              help="With --engine dask: keep the encoded files in the workers' memory, or read "
                   "and encode them again at every pass (files larger than the cluster's "
                   "memory). Default: keep them when they take at most half of it.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --engine dask: write each file's encoded rows to this directory in "
                   "the first pass and load them in later passes (implies --no-persist; as "
                   "much disk as the data in float64, on a disk every worker sees).")
def fit(data: Path, target: str, model: str, hidden_text: str | None,
        activation_text: str | None, dropout: float | None, optimizer: str | None,
        lr: float | None,
        schedule: str | None, batch_size: str | None, epochs: int | None, alpha: float | None,
        tol_text: str | None, standardize: bool, categorical: str, missing: str,
        max_categories: int | None, features_text: str | None, drop_text: str | None,
        sep: str | None, test_size: float, seed: int, early_stopping: bool | None,
        baseline: bool, out: Path | None, plot_path: Path | None, as_json: bool,
        checkpoint_dir: Path | None, checkpoint_every: int, resume: bool,
        engine: str, scheduler: str | None, workers: int | None, persist: bool | None,
        cache_dir: Path | None) -> None:
    """Fit a linear, logistic or softmax model, or a network (--model mlp), on the table DATA
    (.csv, .tsv, .parquet; with --engine dask also a directory or glob of such files)."""
    from gdlab.workflows.tabular import UNLIMITED, FitSettings, fit_table

    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise click.BadParameter(f"must be a positive number, got {lr}.", param_hint="--lr")
    if resume and checkpoint_dir is None:
        raise click.UsageError("--resume needs --checkpoint DIR (where the checkpoint is).")
    if out is not None:
        check_output(out, (".npz",), "--out")
    if plot_path is not None:
        check_output(plot_path, (".png", ".svg", ".pdf"), "--plot")
    if engine != "dask" and (persist is not None or cache_dir is not None):
        flag = "--cache-dir" if cache_dir is not None else "--persist/--no-persist"
        raise click.UsageError(f"{flag} applies to --engine dask; add --engine dask or drop it.")
    if persist and cache_dir is not None:
        raise click.UsageError("--cache-dir serves fits that re-read the files at every pass; "
                               "use it with --no-persist (or alone), not with --persist.")
    tol: float | str | None = None
    if tol_text is not None:
        t = _tol(tol_text)
        tol = UNLIMITED if t is None else t
    settings = FitSettings(
        model=model, optimizer=optimizer, lr=lr, schedule=schedule,
        batch_size=None if batch_size is None else (_batch_size(batch_size) or "full"),
        epochs=epochs, alpha=alpha, tol=tol, early_stopping=early_stopping,
        standardize=standardize, categorical=categorical, missing=missing,
        max_categories=max_categories, features=_columns(features_text),
        drop=_columns(drop_text), sep=_sep(sep), test_size=test_size, seed=seed,
        baseline=baseline, hidden=_hidden(hidden_text),
        activation=_activation(activation_text), dropout=dropout,
    )

    def ready(res: Any) -> None:
        if as_json:
            return
        for note in res.notes:
            click.echo(note)
        for line in _inferred_lines(res):
            click.echo(line)
        if res.resumed_from_epoch is not None:
            click.echo(f"resumed from the checkpoint at epoch {res.resumed_from_epoch}")

    if engine == "dask":
        from gdlab.workflows.dask_tabular import fit_files

        res = fit_files(data, target, settings, scheduler=scheduler, workers=workers,
                        persist=persist, cache_dir=cache_dir, checkpoint_dir=checkpoint_dir,
                        checkpoint_every=checkpoint_every, resume=resume, verbose=1)
        ready(res)
    else:
        res = fit_table(data, target, settings, checkpoint_dir=checkpoint_dir,
                        checkpoint_every=checkpoint_every, resume=resume, verbose=1,
                        on_ready=ready)
    if out is not None:
        res.model.save(out)
    if plot_path is not None:
        from gdlab.plots._save import save_figure
        from gdlab.plots.curves import plot_history

        save_figure(plot_history(res.history, title=f"{data.name}: {res.summary.split(' -> ')[1]}"),
                    plot_path)
    est = res.model.estimator
    if as_json:
        for note in res.notes:
            _warn(note)
        settings_doc = {k: v for k, v in res.settings.fingerprint_settings().items()
                        if k not in ("optimizer", "lr", "schedule", "batch_size", "epochs",
                                     "alpha", "tol", "n_iter_no_change", "early_stopping")}
        click.echo(json.dumps({
            "data": str(data), "target": target, "task": res.task,
            "model": type(est).__name__, "inferred": res.inferred, "summary": res.summary,
            "rule": res.rule, "onehot_columns": res.onehot_columns, "standardized": standardize,
            "features": list(res.model.encoder.feature_names_out_),
            "missing": missing, "filled": res.filled, "dropped_rows": res.dropped_rows,
            "n_train": res.n_train, "n_test": res.n_test,
            "settings": {**settings_doc, **res.params},
            "metrics": res.metrics, "baseline": res.baseline, "epochs": res.epochs,
            "seconds": res.seconds,
            "converged": res.converged, "warnings": res.warnings,
            "checkpoint": str(res.checkpoint) if res.checkpoint else None,
            "resumed_from_epoch": res.resumed_from_epoch,
            "out": str(out) if out else None, "plot": str(plot_path) if plot_path else None,
            "loss_curve": [h["loss"] for h in res.history],
            "lr_curve": [h["lr"] for h in res.history],
        }, allow_nan=False))
        return
    sets = ["train"] + (["held-out"] if res.n_test else [])
    rows = _metric_rows(res.metrics, res.task)
    columns = ["metric", *sets]
    if res.baseline is not None:
        ref = _metric_rows({k: res.baseline[k] for k in ("train", "test")}, res.task)
        rows = [r + ref_r[1:] for r, ref_r in zip(rows, ref, strict=True)]
        columns += [f"sklearn {k}" for k in sets]
    pad = [""] * (len(columns) - 2)
    rows.append(["epochs", str(res.epochs)] + pad)
    rows.append(["seconds", f"{res.seconds:.2f}"] + pad)
    click.echo(f"{type(est).__name__}: {res.n_train} training rows, {res.n_test} held-out")
    print_table("metrics", columns, rows)
    if res.baseline is not None:
        click.echo(f"sklearn: {res.baseline['model']} on the same split and columns")
    for text in res.warnings:
        _warn(f"warning: {text}")
    if res.checkpoint is not None:
        click.echo(f"checkpoint: {res.checkpoint}")
    if plot_path is not None:
        click.echo(f"loss curve written to {plot_path}")
    if out is not None:
        click.echo(f"model saved to {out}")


def _write_table(df: Any, path: Path) -> None:
    from gdlab.io.atomic import atomic_write_bytes, atomic_writer

    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        atomic_write_bytes(path, buf.getvalue())
    elif name.endswith(".csv"):
        with atomic_writer(path, "w") as fh:
            df.to_csv(fh, index=False)
    else:
        raise click.BadParameter(f"must end in .csv or .parquet, got {path.name!r}.",
                                 param_hint="--out")


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path),
              help="Write the table with a prediction column (.csv or .parquet; a directory "
                   "with --engine dask); default: CSV of the predictions on stdout.")
@click.option("--proba", is_flag=True, help="Add one probability column per class.")
@click.option("--allow-extra", is_flag=True,
              help="Ignore columns the model was not trained on instead of refusing them.")
@click.option("--unknown-category", "unknown", default=None,
              type=SuggestChoice(["error", "ignore"]),
              help="A category not seen in training: stop naming it, or encode it as all-zero "
                   "one-hot columns (default: the model's rule, 'error').")
@click.option("--sep", default=None,
              help="CSV separator, e.g. ';' or tab (default: sniffed from the file).")
@_DASK_OPTIONS["engine"]
@_DASK_OPTIONS["scheduler"]
@_DASK_OPTIONS["workers"]
def predict(model_path: Path, data: Path, out: Path | None, proba: bool,
            allow_extra: bool, unknown: str | None, sep: str | None, engine: str,
            scheduler: str | None, workers: int | None) -> None:
    """Predict with MODEL (from gdlab fit) for every row of DATA; columns matched by name.

    Missing cells follow the rule saved with the model (--missing of gdlab fit): filled the
    same way, an error, or no prediction for those rows (drop). With --engine dask, DATA may be
    a directory or glob and --out is a Parquet directory."""
    import numpy as np
    import pandas as pd

    from gdlab.workflows.tabular import load_tabular_model, predict_table

    if out is not None and engine != "dask":  # with Dask, --out is a Parquet directory
        check_output(out, (".csv", ".parquet", ".pq"), "--out")
    model = load_tabular_model(model_path)
    if engine == "dask":
        from gdlab.workflows.dask_tabular import predict_files

        if out is None:
            raise click.UsageError("--engine dask needs --out DIR (a Parquet directory).")
        n, n_files, line = predict_files(model, data, out, proba=proba,
                                         allow_extra=allow_extra, scheduler=scheduler,
                                         workers=workers)
        click.echo(line)
        click.echo(f"wrote {n} predictions from {n_files} file(s) to the Parquet directory "
                   f"{out}")
        return
    df, y_hat, dropped = predict_table(model, data, allow_extra=allow_extra, unknown=unknown,
                                       sep=_sep(sep))
    skipped = int(sum(v is None or (isinstance(v, float) and np.isnan(v)) for v in y_hat))
    if skipped:
        _warn(f"{skipped} row(s) with a missing cell have no prediction (the model was fitted "
              "with --missing drop)")
    if dropped:
        _warn(f"ignoring the target column {model.target!r} in {data}")
    col = f"predicted_{model.target}"
    while col in df.columns:
        col += "_"
    result = df.reset_index(drop=True)
    result[col] = y_hat
    if proba:
        if model.task == "regression":
            raise click.UsageError("--proba needs a classifier; this model is a regression.")
        X_df = df.drop(columns=[model.target]) if dropped else df
        ok = np.array([not (v is None or (isinstance(v, float) and np.isnan(v)))
                       for v in y_hat])
        P = np.full((len(df), len(model.estimator.classes_)), np.nan)
        P[ok] = model.estimator.predict_proba(model.encoder.transform(
            X_df.loc[ok], path=data, allow_extra=allow_extra, unknown=unknown))
        for k, c in enumerate(model.estimator.classes_):
            result[f"proba_{c}"] = P[:, k]
    if out is None:
        index_name = df.index.name or "row"
        show = pd.DataFrame({index_name: df.index.to_numpy(), col: y_hat})
        if proba:
            for c in result.columns:
                if str(c).startswith("proba_"):
                    show[c] = result[c].to_numpy()
        click.echo(show.to_csv(index=False), nl=False)
        return
    _write_table(result, out)
    click.echo(f"wrote {len(result)} predictions (column {col!r}) to {out}")


@cli.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--target", "-t", default=None,
              help="The target column (default: the one the model was trained on).")
@click.option("--allow-extra", is_flag=True,
              help="Ignore columns the model was not trained on instead of refusing them.")
@click.option("--unknown-category", "unknown", default=None,
              type=SuggestChoice(["error", "ignore"]),
              help="A category not seen in training: stop naming it, or encode it as all-zero "
                   "one-hot columns (default: the model's rule, 'error').")
@click.option("--sep", default=None,
              help="CSV separator, e.g. ';' or tab (default: sniffed from the file).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def evaluate(model_path: Path, data: Path, target: str | None, allow_extra: bool,
             unknown: str | None, sep: str | None, as_json: bool) -> None:
    """Metrics of MODEL on the rows of DATA (R^2/MAE/RMSE or accuracy/log-loss/F1)."""
    from gdlab.workflows.tabular import evaluate_table, load_tabular_model

    model = load_tabular_model(model_path)
    m = evaluate_table(model, data, target, allow_extra=allow_extra, unknown=unknown,
                       sep=_sep(sep))
    if as_json:
        click.echo(json.dumps({"model": str(model_path), "data": str(data),
                               "target": target or model.target, "task": model.task,
                               "metrics": m}, allow_nan=False))
        return
    click.echo(f"{type(model.estimator).__name__} ({model_path}) on {data}: {m['n']} rows")
    print_table("metrics", ["metric", "value"], _metric_rows({"train": m}, model.task))
