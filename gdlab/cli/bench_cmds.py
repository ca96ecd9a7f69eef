"""`gdlab bench`: measurements a learner can run (the full suite is in benchmarks/)."""

from __future__ import annotations

import json

import click

from gdlab.cli._app import cli
from gdlab.cli._common import print_table


@cli.group()
def bench() -> None:
    """Measure what the lessons claim, on this machine."""


@bench.command()
@click.option("--m", "ms", default="100,1000,10000,100000", show_default=True,
              help="Comma-separated sample counts.")
@click.option("--n", default=10, show_default=True, type=click.IntRange(1, 10_000),
              help="Features.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True)
def vectorization(ms: str, n: int, repeats: int, as_json: bool) -> None:
    """Loop vs vectorized linear-regression gradient: times and speed-up (lesson L1)."""
    from gdlab.teach.vectorization import vectorization_speedup

    try:
        m_list = [int(v) for v in ms.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"must be comma-separated integers, got {ms!r}.",
                                 param_hint="--m") from None
    if not m_list or min(m_list) < 1:
        raise click.BadParameter(f"must be positive integers, got {ms!r}.", param_hint="--m")
    rows = vectorization_speedup(m_list, n, repeats=repeats)
    if as_json:
        click.echo(json.dumps({"rows": rows}))
        return
    print_table(f"MSE gradient, n = {n} features: Python loop vs NumPy (median of {repeats})",
                ["m", "n", "loop", "vectorized", "speed-up"],
                [[str(r["m"]), str(r["n"]), f"{r['loop_s'] * 1e3:.3f} ms",
                  f"{r['vectorized_s'] * 1e3:.4f} ms", f"{r['speedup']:.0f}x"] for r in rows])
    click.echo("The lesson claims 10-100x; the ratio grows with m until memory bandwidth, "
               "not Python, limits the vectorized side.")
