"""`gdlab explain`: one descent step with every intermediate and its shape."""

from __future__ import annotations

import json

import click

from gdlab.cli._app import cli
from gdlab.cli._common import SuggestChoice
from gdlab.teach.explain import Explanation, explain_all, explain_linear_step, format_value


def _print(exp: Explanation) -> None:
    click.echo(f"== {exp.title}")
    click.echo(f"   convention: {exp.convention}")
    for q in exp.quantities:
        shape = "scalar" if not q.shape else "(" + ", ".join(map(str, q.shape)) + ")"
        prefix = f"   {q.name:<10} {shape:<8} = "
        value = format_value(q.value).replace("\n", "\n" + " " * len(prefix))
        click.echo(f"{prefix}{value}    # {q.formula}")
    for note in exp.notes:
        click.echo(f"   note: {note}")
    click.echo("")


@cli.command()
@click.option("--way", type=SuggestChoice(["1", "2", "3", "all"]), default="all", show_default=True,
              help="Which of the lesson's linear layouts to show.")
@click.option("--reduction", type=SuggestChoice(["mean", "sum"]), default="mean",
              show_default=True, help="Mean (1/m) or the lesson's sum convention.")
@click.option("--json", "as_json", is_flag=True, help="Print the same content as JSON.")
@click.option("--model", type=click.Choice(["linear", "mlp"]), default="linear",
              show_default=True, help="The lessons' linear models, or a tiny network (mlp).")
@click.option("--activation", default="sigmoid", show_default=True,
              help="With --model mlp: the hidden layer's activation.")
@click.option("--head", type=click.Choice(["cce", "mse"]), default="cce", show_default=True,
              help="With --model mlp: 2-3-2 softmax + CCE, or 2-3-1 identity + MSE.")
def explain(way: str, reduction: str, as_json: bool, model: str, activation: str,
            head: str) -> None:
    """Show one gradient-descent step of the lessons' worked examples, every number and shape."""
    if model == "mlp":
        from gdlab.teach.explain_mlp import explain_mlp_step

        exps = [explain_mlp_step(head=head, activation=activation)]
    elif way == "all":
        exps = explain_all(reduction=reduction)
    else:
        exps = [explain_linear_step(int(way), reduction=reduction)]
    if as_json:
        click.echo(json.dumps({"steps": [e.to_dict() for e in exps]}, indent=2))
        return
    for e in exps:
        _print(e)
