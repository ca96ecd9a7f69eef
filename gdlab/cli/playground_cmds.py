"""`gdlab playground`: descent live in the browser, or a network's fit replayed, one
self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gdlab.cli._app import cli
from gdlab.cli._common import optimizer_choice
from gdlab.cli.data_cmds import _activation, _batch_size, _hidden
from gdlab.cli.descent_cmds import _domain, _objective

# the options of --network (named in the error when given without it)
_NETWORK_OPTIONS = ("hidden_text", "activation_text", "optimizer", "lr", "batch_size_text",
                    "epochs", "samples", "noise", "target", "test_size", "seed")


@cli.command()
@click.argument("function", required=False)
@click.option("--out", "out_path", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write (opens from file://, no server, no network). "
                   "Default: playground.html; with --network, network.html (and the model "
                   "file network.npz beside it).")
@click.option("--vars", "variables", default=None,
              help="Variable order for an expression, e.g. x,y (default: sorted names).")
@click.option("--domain", default=None,
              help="Box lo,hi per variable (x0,x1,y0,y1): drawn, and a descent stops when it "
                   "leaves it. Default: the surface's box; -3,3 per variable for an "
                   "expression (drawn; the descent is then unbounded, as in gdlab minimize).")
@click.option("--network", "network", default=None, metavar="DATA",
              help="Train a network on DATA and write a page replaying the fit: circles, xor, "
                   "gaussians, spirals, or a table (.csv, .parquet) with two numeric feature "
                   "columns and a target of two classes.")
@click.option("--hidden", "hidden_text", default=None, metavar="N,...",
              help="--network: units per hidden layer (default: 8,8).")
@click.option("--activation", "activation_text", default=None, metavar="NAME[,NAME...]",
              help="--network: relu, leaky_relu, elu, tanh, sigmoid, gelu or identity, one for "
                   "every hidden layer or one per layer (default: tanh).")
@click.option("--optimizer", default=None, type=optimizer_choice(),
              help="--network: the optimizer (default: adam).")
@click.option("--lr", type=float, default=None, help="--network: learning rate (default: 0.01).")
@click.option("--batch-size", "batch_size_text", default=None,
              help="--network: rows per step, an integer or 'full' (default: 16).")
@click.option("--epochs", default=None, type=click.IntRange(1, 100_000),
              help="--network: epochs, all of them run (default: 400; the page shows at most "
                   "101 of them, evenly spread).")
@click.option("--samples", default=None, type=click.IntRange(4, 100_000),
              help="--network with a data set: points (default: 400).")
@click.option("--noise", default=None, type=click.FloatRange(0, None),
              help="--network with a data set: noise of each coordinate (default: 0.1).")
@click.option("--target", "-t", default=None,
              help="--network with a table: the column of the two classes (default: label).")
@click.option("--test-size", default=None, type=click.FloatRange(0, 1, max_open=True),
              help="--network: share of points held out for the test loss (default: 0.2; 0: "
                   "none).")
@click.option("--seed", default=None, type=int,
              help="--network: seeds the data set, the split, the weights and the shuffles "
                   "(default: 0).")
def playground(function: str | None, out_path: Path | None, variables: str | None,
               domain: str | None, network: str | None, **network_opts: Any) -> None:
    """Write a page racing optimizers on FUNCTION (a surface such as peaks, or a formula of
    one or two variables such as 'x^2 + 3*y^2'), or with --network DATA a page replaying a
    network's training: its boundary, every hidden unit and the losses, epoch by epoch."""
    if network is not None:
        if function is not None or variables is not None or domain is not None:
            raise click.UsageError("--network draws a network, not a function: leave out "
                                   "FUNCTION, --vars and --domain.")
        _network_page(network, out_path or Path("network.html"), **network_opts)
        return
    given = [f"--{k.removesuffix('_text').replace('_', '-')}" for k in _NETWORK_OPTIONS
             if network_opts.get(k) is not None]
    if function is None:
        raise click.UsageError("Missing FUNCTION (e.g. peaks or 'x^2 + 3*y^2'), or pass "
                               "--network DATA (e.g. --network spirals).")
    if given:
        raise click.UsageError(f"{', '.join(given)}: only with --network DATA (a network "
                               "page), not with FUNCTION.")
    from gdlab.playground import write_playground

    out_path = out_path or Path("playground.html")
    obj = _objective(function, variables)
    d = obj.n_vars or 1
    box = _domain(domain, d)
    names = list(obj.variables) if variables else None
    path = write_playground(obj.surface.name if obj.surface is not None else function, out_path,
                            variables=names, domain=box)
    size = path.stat().st_size / 1024
    click.echo(f"wrote {path} ({size:.0f} kB); open it in a browser: file://{path.resolve()}")


def _network_page(source: str, out: Path, *, hidden_text: str | None,
                  activation_text: str | None, optimizer: str | None, lr: float | None,
                  batch_size_text: str | None, epochs: int | None, samples: int | None,
                  noise: float | None, target: str | None, test_size: float | None,
                  seed: int | None) -> None:
    import math

    from gdlab.cli._common import check_output
    from gdlab.core.datasets import DATASETS
    from gdlab.playground.network import network_data, train_network, write_network_playground

    check_output(out, (".html", ".htm"), "--out")
    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise click.BadParameter(f"must be a positive number, got {lr}.", param_hint="--lr")
    is_dataset = source in DATASETS
    if is_dataset and target is not None:
        raise click.UsageError(f"--target reads a table; the data set {source!r} has its "
                               "label column already.")
    if not is_dataset and (samples is not None or noise is not None):
        raise click.UsageError("--samples and --noise make a data set (circles, xor, "
                               f"gaussians, spirals); {source!r} is read as a table.")
    seed = 0 if seed is None else seed
    data_opts: dict[str, Any] = {"seed": seed, "target": target}
    if samples is not None:
        data_opts["samples"] = samples
    if noise is not None:
        data_opts["noise"] = noise
    data = network_data(source, **data_opts)
    fit_opts: dict[str, Any] = {"seed": seed}
    hidden = _hidden(hidden_text)
    if hidden is not None:
        fit_opts["hidden"] = hidden
    for key, value in (("activation", _activation(activation_text)), ("optimizer", optimizer),
                       ("lr", lr), ("epochs", epochs), ("test_size", test_size)):
        if value is not None:
            fit_opts[key] = value
    if batch_size_text is not None:
        bs = _batch_size(batch_size_text)
        if bs == "auto":
            raise click.BadParameter("must be a positive integer or 'full'; got 'auto'.",
                                     param_hint="--batch-size")
        fit_opts["batch_size"] = bs
    replay = train_network(data, **fit_opts)
    page, model = write_network_playground(replay, out)
    scores = ", ".join(f"{k} accuracy {v:.3f}" for k, v in replay.accuracy().items()
                       if v is not None)
    click.echo(f"trained MLPClassifier {replay.settings['hidden']} on {data.name} "
               f"({len(replay.train)} training, {len(replay.test)} test points, "
               f"{replay.settings['epochs']} epochs): {scores}")
    size = page.stat().st_size / 1024
    click.echo(f"wrote {page} ({size:.0f} kB) and the model {model}; open "
               f"file://{page.resolve()}")

