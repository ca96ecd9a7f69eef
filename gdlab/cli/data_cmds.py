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
from gdlab.cli._common import print_table

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


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--target", "-t", required=True, help="Name of the column to predict.")
@click.option("--model", default="auto", show_default=True,
              type=click.Choice(["auto", "linear", "logistic", "softmax"]),
              help="auto: linear for a continuous target, logistic for two classes, softmax "
                   "for more.")
@click.option("--optimizer", default="adam", show_default=True,
              type=click.Choice(["gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                 "adam", "adamw"]))
@click.option("--lr", type=float, default=None,
              help="Learning rate (default: a good one for the optimizer, 0.01 for adam).")
@click.option("--schedule", default=None, help="Learning-rate schedule name, e.g. 'exponential'.")
@click.option("--batch-size", "batch_size", default="auto", show_default=True,
              help="Rows per step: an integer, 'full' (full batch) or 'auto' (min(256, n)).")
@click.option("--epochs", default=200, show_default=True, type=click.IntRange(1, None))
@click.option("--alpha", default=1e-4, show_default=True, type=click.FloatRange(0, None),
              help="L2 penalty alpha/2 ||W||^2.")
@click.option("--tol", "tol_text", default="1e-4", show_default=True,
              help="Stop when the loss improves by less than this for 5 epochs; 'none' runs "
                   "every epoch.")
@click.option("--standardize/--no-standardize", default=True, show_default=True,
              help="Standardize numeric features (the means and scales are saved in the "
                   "model).")
@click.option("--categorical", default="onehot", show_default=True,
              type=click.Choice(["onehot", "error"]),
              help="Non-numeric feature columns: one-hot encode them, or stop with an error.")
@click.option("--test-size", default=0.2, show_default=True, type=click.FloatRange(0, 1,
              max_open=True), help="Share of rows held out for the metrics (0: none).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seeds the held-out split and the shuffles.")
@click.option("--early-stopping", is_flag=True,
              help="Hold out 10% of the training rows and stop when their score stalls.")
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
def fit(data: Path, target: str, model: str, optimizer: str, lr: float | None,
        schedule: str | None, batch_size: str, epochs: int, alpha: float, tol_text: str,
        standardize: bool, categorical: str, test_size: float, seed: int, early_stopping: bool,
        out: Path | None, plot_path: Path | None, as_json: bool, checkpoint_dir: Path | None,
        checkpoint_every: int, resume: bool, engine: str, scheduler: str | None,
        workers: int | None) -> None:
    """Fit a linear, logistic or softmax model on the table DATA (.csv, .tsv, .parquet; with
    --engine dask also a directory or glob of such files)."""
    from gdlab.workflows.tabular import FitSettings, fit_table

    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise click.BadParameter(f"must be a positive number, got {lr}.", param_hint="--lr")
    if resume and checkpoint_dir is None:
        raise click.UsageError("--resume needs --checkpoint DIR (where the checkpoint is).")
    settings = FitSettings(
        model=model, optimizer=optimizer,
        lr=lr,
        schedule=schedule, batch_size=_batch_size(batch_size), epochs=epochs, alpha=alpha,
        tol=_tol(tol_text), early_stopping=early_stopping, standardize=standardize,
        categorical=categorical, test_size=test_size, seed=seed,
    )
    if engine == "dask":
        from gdlab.workflows.dask_tabular import fit_files

        res = fit_files(data, target, settings, scheduler=scheduler, workers=workers,
                        checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
                        resume=resume, verbose=1)
    else:
        res = fit_table(data, target, settings, checkpoint_dir=checkpoint_dir,
                        checkpoint_every=checkpoint_every, resume=resume, verbose=1)
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
        click.echo(json.dumps({
            "data": str(data), "target": target, "task": res.task,
            "model": type(est).__name__, "inferred": res.inferred, "summary": res.summary,
            "onehot_columns": res.onehot_columns, "standardized": standardize,
            "features": list(res.model.encoder.feature_names_out_),
            "n_train": res.n_train, "n_test": res.n_test,
            "settings": dict(res.settings.__dict__),
            "metrics": res.metrics, "epochs": res.epochs, "seconds": res.seconds,
            "converged": res.converged, "warnings": res.warnings,
            "checkpoint": str(res.checkpoint) if res.checkpoint else None,
            "resumed_from_epoch": res.resumed_from_epoch,
            "out": str(out) if out else None, "plot": str(plot_path) if plot_path else None,
            "loss_curve": [h["loss"] for h in res.history],
            "lr_curve": [h["lr"] for h in res.history],
        }, allow_nan=False))
        return
    for note in res.notes:
        click.echo(note)
    click.echo(("inferred " if res.inferred else "") + res.summary)
    if res.onehot_columns:
        enc = res.model.encoder
        parts = [f"{c} ({len(enc.categories_[c])} values)" for c in res.onehot_columns]
        click.echo(f"one-hot encoded: {', '.join(parts)}")
    if res.resumed_from_epoch is not None:
        click.echo(f"resumed from the checkpoint at epoch {res.resumed_from_epoch}")
    sets = ["train"] + (["held-out"] if res.n_test else [])
    rows = _metric_rows(res.metrics, res.task)
    rows.append(["epochs", str(res.epochs)] + ([""] if res.n_test else []))
    rows.append(["seconds", f"{res.seconds:.2f}"] + ([""] if res.n_test else []))
    click.echo(f"{type(est).__name__}: {res.n_train} training rows, {res.n_test} held-out")
    print_table("metrics", ["metric", *sets], rows)
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
@_DASK_OPTIONS["engine"]
@_DASK_OPTIONS["scheduler"]
@_DASK_OPTIONS["workers"]
def predict(model_path: Path, data: Path, out: Path | None, proba: bool,
            allow_extra: bool, engine: str, scheduler: str | None, workers: int | None) -> None:
    """Predict with MODEL (from gdlab fit) for every row of DATA; columns matched by name.
    With --engine dask, DATA may be a directory or glob and --out is a Parquet directory."""
    import pandas as pd

    from gdlab.workflows.tabular import load_tabular_model, predict_table

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
    df, y_hat, dropped = predict_table(model, data, allow_extra=allow_extra)
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
        P = model.estimator.predict_proba(model.transform(X_df, path=data,
                                                          allow_extra=allow_extra))
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def evaluate(model_path: Path, data: Path, target: str | None, allow_extra: bool,
             as_json: bool) -> None:
    """Metrics of MODEL on the rows of DATA (R^2/MAE/RMSE or accuracy/log-loss/F1)."""
    from gdlab.workflows.tabular import evaluate_table, load_tabular_model

    model = load_tabular_model(model_path)
    m = evaluate_table(model, data, target, allow_extra=allow_extra)
    if as_json:
        click.echo(json.dumps({"model": str(model_path), "data": str(data),
                               "target": target or model.target, "task": model.task,
                               "metrics": m}, allow_nan=False))
        return
    click.echo(f"{type(model.estimator).__name__} ({model_path}) on {data}: {m['n']} rows")
    print_table("metrics", ["metric", "value"], _metric_rows({"train": m}, model.task))
