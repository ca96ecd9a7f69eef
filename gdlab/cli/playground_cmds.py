"""`gdlab playground`: descent live in the browser, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from gdlab.cli._app import cli
from gdlab.cli.descent_cmds import _domain, _objective


@cli.command()
@click.argument("function")
@click.option("--out", "out_path", default="playground.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write (opens from file://, no server, no network).")
@click.option("--vars", "variables", default=None,
              help="Variable order for an expression, e.g. x,y (default: sorted names).")
@click.option("--domain", default=None,
              help="Box lo,hi per variable (x0,x1,y0,y1): drawn, and a descent stops when it "
                   "leaves it. Default: the surface's box; -3,3 per variable for an "
                   "expression (drawn; the descent is then unbounded, as in gdlab minimize).")
def playground(function: str, out_path: Path, variables: str | None,
               domain: str | None) -> None:
    """Write a page racing optimizers on FUNCTION (a surface such as peaks, or a formula of
    one or two variables such as 'x^2 + 3*y^2')."""
    from gdlab.playground import write_playground

    obj = _objective(function, variables)
    d = obj.n_vars or 1
    box = _domain(domain, d)
    names = list(obj.variables) if variables else None
    path = write_playground(obj.surface.name if obj.surface is not None else function, out_path,
                            variables=names, domain=box)
    size = path.stat().st_size / 1024
    click.echo(f"wrote {path} ({size:.0f} kB); open it in a browser: file://{path.resolve()}")
