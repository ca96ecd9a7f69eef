"""`gdlab minimize`, `gdlab basins`, `gdlab critical`: descent on a named surface or a typed
function."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from gdlab.cli._app import cli
from gdlab.cli._common import (
    SuggestChoice,
    check_names,
    optimizer_choice,
    print_table,
    schedule_choice,
)


def _numbers(text: str, option: str, count: int | None = None) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated numbers such as 0.5,-1, got {text!r}.",
            param_hint=option) from None
    if not all(math.isfinite(v) for v in values):
        raise click.BadParameter(f"the numbers must be finite, got {text!r}.", param_hint=option)
    if count is not None and len(values) != count:
        raise click.BadParameter(
            f"expected {count} number(s) (one per variable), got {len(values)} in {text!r}.",
            param_hint=option)
    return values


def _objective(expr: str, variables: str | None, hessian: bool = False) -> Any:
    """The function to work on; ``hessian=True`` when the command needs second derivatives
    (critical points), so they are derived within the same time budget as the parse."""
    from gdlab.functions.descent import as_objective

    names = [v.strip() for v in variables.split(",") if v.strip()] if variables else None
    return as_objective(expr, names, hessian=hessian)


def _domain(text: str | None, d: int) -> list[tuple[float, float]] | None:
    if text is None:
        return None
    v = _numbers(text, "--domain", 2 * d)
    return [(v[2 * i], v[2 * i + 1]) for i in range(d)]


def _positive(value: float, option: str) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise click.BadParameter(f"must be a positive number, got {value}.", param_hint=option)


def _fmt_point(x: Any) -> str:
    return "(" + ", ".join(f"{float(v):.6g}" for v in x) + ")"


def _save_plot(fig: Any, path: Path) -> None:
    from gdlab.plots._save import save_figure

    save_figure(fig, path)


@cli.command()
@click.argument("expr")
@click.option("--start", "start", required=True,
              help="Start point, comma-separated, one number per variable, e.g. 0.5,-1.")
@click.option("--optimizer", default="gd", show_default=True, type=optimizer_choice())
@click.option("--compare", default=None,
              help="Comma-separated optimizers to run side by side (overrides --optimizer).")
@click.option("--lr", default=0.01, show_default=True, type=float, help="Learning rate.")
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(0, 10_000_000))
@click.option("--tol", default=1e-8, show_default=True, type=float,
              help="Stop when the gradient norm is at most this.")
@click.option("--schedule", default=None, type=schedule_choice(),
              help="Learning-rate schedule by name (dynamic, cosine, exponential, step, ...).")
@click.option("--lr-mode", default="fixed", show_default=True,
              type=SuggestChoice(["fixed", "grad_scaled"]),
              help="grad_scaled: each step's rate times |grad f| (the lessons' dynamic rate).")
@click.option("--vars", "variables", default=None,
              help="Variable order for an expression, e.g. x,y (default: sorted names).")
@click.option("--domain", default=None,
              help="Box lo,hi per variable (x0,x1,y0,y1); leaving it stops the descent. "
                   "Default: the surface's box, none for an expression.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Picture of the descent: .png/.svg/.pdf (paths on a map, or the 1-D curve) "
                   "or .gif (animation).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--trajectory", is_flag=True, help="With --json: include every step.")
def minimize(expr: str, start: str, optimizer: str, compare: str | None, lr: float, steps: int,
             tol: float, schedule: str | None, lr_mode: str, variables: str | None,
             domain: str | None, plot_path: Path | None, as_json: bool,
             trajectory: bool) -> None:
    """Minimize EXPR (a surface name such as peaks, or a formula such as 'x^2 + 3*y^2')."""
    from gdlab.functions.descent import minimize as run

    _positive(lr, "--lr")
    obj = _objective(expr, variables)
    d = obj.n_vars
    x0 = _numbers(start, "--start", d)
    box = _domain(domain, d)
    names = [o.strip().lower() for o in (compare or optimizer).split(",") if o.strip()]
    if not names:
        raise click.BadParameter("give at least one optimizer name.", param_hint="--compare")
    from gdlab.core.optim import OPTIMIZERS

    names = check_names(names, list(OPTIMIZERS), "--compare")
    results = [run(obj, x0, optimizer=name, lr=lr, schedule=schedule, steps=steps, tol=tol,
                   domain=box, lr_mode=lr_mode) for name in names]
    if plot_path is not None:
        from gdlab.plots import surfaces as pics

        if d not in (1, 2):
            raise click.BadParameter(f"pictures need 1 or 2 variables, this function has {d}.",
                                     param_hint="--plot")
        if plot_path.suffix.lower() == ".gif":
            pics.animate_descent(obj, results, plot_path, domain=box)
        elif d == 2:
            _save_plot(pics.plot_trajectories(obj, results, domain=box), plot_path)
        else:
            _save_plot(pics.plot_descent_1d(obj, results, domain=box), plot_path)
    if as_json:
        click.echo(json.dumps({"function": obj.name, "variables": list(obj.variables),
                               "start": x0,
                               "runs": [r.as_dict(trajectory=trajectory) for r in results],
                               "plot": str(plot_path) if plot_path else None}, indent=1))
        return
    print_table(f"minimize {obj.name} from {_fmt_point(x0)}",
                ["optimizer", "lr", "end point", "value", "|grad|", "steps", "status"],
                [[r.optimizer, f"{r.lr:g}" + (" " + r.schedule if r.schedule != "constant"
                                              else "") + (" grad-scaled" if r.lr_mode !=
                                                          "fixed" else ""),
                  _fmt_point(r.x), f"{r.value:.8g}", f"{r.grad_norm:.3g}", str(r.n_steps),
                  r.status.replace("_", " ")] for r in results])
    if plot_path is not None:
        click.echo(f"picture written to {plot_path}")


@cli.command()
@click.argument("expr")
@click.option("--grid", default=61, show_default=True, type=click.IntRange(2, 2001),
              help="Starts per axis of a grid over the domain.")
@click.option("--optimizer", default="gd", show_default=True, type=optimizer_choice())
@click.option("--lr", default=0.05, show_default=True, type=float)
@click.option("--steps", default=2000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--tol", default=1e-6, show_default=True, type=float)
@click.option("--schedule", default=None, type=schedule_choice())
@click.option("--vars", "variables", default=None, help="Variable order, e.g. x,y.")
@click.option("--domain", default=None,
              help="Box lo,hi per variable (x0,x1,y0,y1). Required for a formula.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Basin map (.png, .svg or .pdf).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
def basins(expr: str, grid: int, optimizer: str, lr: float, steps: int, tol: float,
           schedule: str | None, variables: str | None, domain: str | None,
           plot_path: Path | None, as_json: bool) -> None:
    """Which minimum does each start of a grid reach? Shares per outcome and 2/lambda_max."""
    from gdlab.functions.descent import basins as run

    _positive(lr, "--lr")
    obj = _objective(expr, variables, hessian=True)
    box = _domain(domain, obj.n_vars)
    b = run(obj, grid=grid, domain=box, optimizer=optimizer, lr=lr, steps=steps, tol=tol,
            schedule=schedule)
    if plot_path is not None:
        from gdlab.plots.surfaces import plot_basins

        _save_plot(plot_basins(b), plot_path)
    rows = b.rows()
    if as_json:
        click.echo(json.dumps({"function": b.name, "grid": grid, "n_starts": len(b.labels),
                               "optimizer": b.descent.optimizer, "lr": lr, "steps": steps,
                               "domain": b.domain.tolist(), "outcomes": rows,
                               "plot": str(plot_path) if plot_path else None}, indent=1))
        return
    print_table(f"basins of {b.name}: {len(b.labels)} starts, {b.descent.optimizer} lr={lr:g}, "
                f"{steps} steps",
                ["outcome", "share", "starts", "value", "2/lambda_max"],
                [[r["outcome"], f"{100 * r['share']:.1f}%", str(r["count"]),
                  f"{r['value']:.6g}" if "value" in r else "",
                  f"{r['max_stable_lr']:.4g}" if r.get("max_stable_lr") else ""] for r in rows])
    if plot_path is not None:
        click.echo(f"basin map written to {plot_path}")


@cli.command()
@click.argument("expr")
@click.option("--vars", "variables", default=None, help="Variable order, e.g. x,y.")
@click.option("--domain", default=None,
              help="Box lo,hi per variable (x0,x1,y0,y1). Required for a formula.")
@click.option("--grid", default=41, show_default=True, type=click.IntRange(2, 1001),
              help="Newton starts per axis.")
@click.option("--json", "as_json", is_flag=True, help="Print the points as JSON.")
def critical(expr: str, variables: str | None, domain: str | None, grid: int,
             as_json: bool) -> None:
    """Critical points of EXPR: minima, maxima, saddles (Newton on the gradient from a grid)."""
    from gdlab.functions.descent import critical_points

    obj = _objective(expr, variables, hessian=True)
    box = _domain(domain, obj.n_vars)
    points = critical_points(obj, domain=box, grid=grid)
    if as_json:
        click.echo(json.dumps({"function": obj.name, "variables": list(obj.variables),
                               "points": [{"point": c.point.tolist(), "value": c.value,
                                           "kind": c.kind,
                                           "eigenvalues": c.eigenvalues.tolist(),
                                           "max_stable_lr": c.max_stable_lr}
                                          for c in points]}, indent=1))
        return
    print_table(f"critical points of {obj.name}",
                ["kind", "point", "value", "Hessian eigenvalues", "2/lambda_max"],
                [[c.kind, _fmt_point(c.point), f"{c.value:.8g}",
                  ", ".join(f"{e:.4g}" for e in c.eigenvalues),
                  f"{c.max_stable_lr:.4g}" if c.max_stable_lr else ""] for c in points])
    if not points:
        click.echo("no critical point found in the domain")
