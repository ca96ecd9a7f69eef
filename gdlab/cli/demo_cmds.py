"""`gdlab demo`: the README's main job, a tour that needs no network and no input."""

from __future__ import annotations

from pathlib import Path

import click

from gdlab.cli._app import cli


@cli.command()
@click.option("--out", "out_dir", default="gdlab-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the figures, summary.json and index.html.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--grid", default=61, show_default=True, type=click.IntRange(5, 301),
              help="Starts per axis of the peaks basin map.")
def demo(out_dir: Path, seed: int, grid: int) -> None:
    """Tour gdlab: the worked step, three models on bundled data, descent on peaks, the
    playgrounds (a network's training among them) and a network on two spirals."""
    from gdlab.teach.explain import format_value
    from gdlab.workflows.tour import run_demo

    summary = run_demo(out_dir, seed=seed, grid=grid,
                       progress=lambda msg: click.echo(msg, err=True))
    q = {d["name"]: d["value"] for d in summary["worked_step"]["quantities"]}
    click.echo(f"worked step (Way 3): grad = {format_value(q['grad'])}, "
               f"theta_new = {format_value(q['theta_new'])}, loss {q['loss']} -> "
               f"{q['loss_new']}")
    for r in summary["models"]:
        click.echo(f"{r['dataset']:<14} {r['model']:<19} {r['optimizer']:<9} "
                   f"{r['metric']} {r['score']:.4f}  ({r['epochs']} epochs, "
                   f"{r['seconds']:.2f} s)")
    shares = ", ".join(f"{k} {v:.1%}" for k, v in summary["peaks"]["basins"]["shares"].items())
    click.echo(f"peaks basins: {shares}")
    click.echo(f"playgrounds: {', '.join(g['file'] for g in summary['playgrounds'])}")
    click.echo(f"done in {summary['seconds']:.1f} s; open {out_dir.resolve() / 'index.html'}")
