"""`gdlab compare`: the lessons' comparison of batch modes and optimizers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from gdlab.cli._app import cli
from gdlab.cli._common import SuggestChoice, check_names, optimizer_choice, print_table


def _csv_list(value: str) -> list[str]:
    return [v.strip().lower() for v in value.split(",") if v.strip()]


@cli.command()
@click.option("--dataset", default="wine", show_default=True,
              type=SuggestChoice(["iris", "wine", "breast_cancer", "digits", "diabetes"]),
              help="A dataset bundled with scikit-learn (no network).")
@click.option("--optimizers", default="gd,momentum,nesterov,adagrad,rmsprop,adam,adamw",
              show_default=True, help="Comma-separated optimizer names.")
@click.option("--batches", default="full,mini,stochastic", show_default=True,
              help="Comma-separated batch modes: full, mini, stochastic.")
@click.option("--batch-size", "mini_batch_size", default=32, show_default=True, type=int,
              help="Rows per step in the 'mini' mode.")
@click.option("--epochs", default=50, show_default=True, type=click.IntRange(1, None))
@click.option("--lr", type=float, default=None,
              help="One learning rate for every optimizer (default: a good one per optimizer).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the loss curves to this figure (.png, .svg or .pdf).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def compare(dataset: str, optimizers: str, batches: str, mini_batch_size: int, epochs: int,
            lr: float | None, seed: int, plot_path: Path | None, as_json: bool) -> None:
    """Fit one model with full-batch, mini-batch and stochastic descent and each optimizer."""
    from gdlab.teach.compare import baseline_score, best_row, load_dataset, rows_to_histories
    from gdlab.teach.compare import compare as run_compare

    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise click.BadParameter(f"must be a positive number, got {lr}.", param_hint="--lr")
    from gdlab.core.optim import OPTIMIZERS
    from gdlab.teach.compare import BATCH_MODES

    opt_names = check_names(_csv_list(optimizers), list(OPTIMIZERS), "--optimizers")
    batch_names = check_names(_csv_list(batches), list(BATCH_MODES), "--batches")
    X, y, task = load_dataset(dataset)
    rows = run_compare(X, y, task, optimizers=opt_names, batches=batch_names,
                       epochs=epochs, lr=lr, mini_batch_size=mini_batch_size, random_state=seed)
    if plot_path is not None:
        from gdlab.plots._save import save_figure
        from gdlab.plots.curves import plot_loss_curves

        save_figure(plot_loss_curves(rows_to_histories(rows),
                                     title=f"{dataset}: loss per epoch"), plot_path)
    best = best_row(rows)
    ref_name, ref_score = baseline_score(X, y, task, random_state=seed)
    if as_json:
        click.echo(json.dumps({"dataset": dataset, "task": task,
                               "rows": [r.as_dict(with_curve=True) for r in rows],
                               "best": best.as_dict(),
                               "baseline": {"model": ref_name, "score": ref_score},
                               "plot": str(plot_path) if plot_path else None}, indent=1))
        return
    metric = rows[0].metric
    print_table(
        f"{dataset} ({task}), {epochs} epochs, held-out {metric}",
        ["batch", "optimizer", "lr", "final loss", metric, "epochs", "seconds", "status"],
        [[r.batch + ("" if r.batch_size is None else f" ({r.batch_size})"), r.optimizer,
          f"{r.lr:g}", f"{r.final_loss:.5g}", f"{r.score:.4f}", str(r.epochs),
          f"{r.seconds:.2f}", r.status] for r in rows],
    )
    click.echo(f"best: {best.optimizer} / {best.batch} ({metric} {best.score:.4f})")
    click.echo(f"reference: {ref_name} on the same split: {metric} {ref_score:.4f}")
    if plot_path is not None:
        click.echo(f"loss curves written to {plot_path}")


@cli.command("lr-find")
@click.option("--dataset", default="digits", show_default=True,
              type=SuggestChoice(["iris", "wine", "breast_cancer", "digits", "diabetes"]))
@click.option("--optimizer", default="adam", show_default=True, type=optimizer_choice())
@click.option("--batch-size", default="64", show_default=True,
              help="Rows per step, or 'full'.")
@click.option("--lr-min", default=1e-6, show_default=True, type=float)
@click.option("--lr-max", default=10.0, show_default=True, type=float)
@click.option("--steps", default=200, show_default=True, type=click.IntRange(10, None))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the loss-vs-learning-rate curve to this figure.")
@click.option("--json", "as_json", is_flag=True)
def lr_find(dataset: str, optimizer: str, batch_size: str, lr_min: float, lr_max: float,
            steps: int, seed: int, plot_path: Path | None, as_json: bool) -> None:
    """Learning-rate range test: sweep the rate exponentially and suggest one."""
    from sklearn.preprocessing import StandardScaler

    from gdlab.teach.compare import estimator_for, load_dataset

    if not (0 < lr_min < lr_max):
        raise click.BadParameter(f"need 0 < --lr-min < --lr-max, got {lr_min} and {lr_max}.",
                                 param_hint="--lr-min/--lr-max")
    bs: int | None = None
    if batch_size != "full":
        try:
            bs = int(batch_size)
        except ValueError:
            raise click.BadParameter(f"must be a positive integer or 'full', got "
                                     f"{batch_size!r}.", param_hint="--batch-size") from None
    X, y, task = load_dataset(dataset)
    X = StandardScaler().fit_transform(X)
    est = estimator_for(task, optimizer=optimizer, batch_size=bs, random_state=seed)
    result = est.lr_range_test(X, y, lr_min=lr_min, lr_max=lr_max, num_steps=steps)
    if plot_path is not None:
        from gdlab.plots._save import save_figure
        from gdlab.plots.training import plot_lr_range

        save_figure(plot_lr_range(result), plot_path)
    if as_json:
        click.echo(json.dumps({"dataset": dataset, "optimizer": optimizer,
                               "suggestion": result.suggestion,
                               "stopped_early": result.stopped_early,
                               "lrs": list(map(float, result.lrs)),
                               "losses": list(map(float, result.losses))}))
        return
    click.echo(f"{dataset}, {optimizer}, batch {batch_size}: swept {len(result.lrs)} rates "
               f"from {result.lrs[0]:.3g} to {result.lrs[-1]:.3g}"
               f"{' (stopped early: the loss diverged)' if result.stopped_early else ''}")
    click.echo(f"suggested learning rate: {result.suggestion:.4g}")
    if plot_path is not None:
        click.echo(f"curve written to {plot_path}")
