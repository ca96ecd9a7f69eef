"""`gdlab export`: a saved model's weights as a PyTorch state_dict or JSON."""

from __future__ import annotations

from pathlib import Path

import click

from gdlab.cli._app import cli


@cli.command("export")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--to", "fmt", type=click.Choice(["torch", "json"]), default="torch",
              show_default=True, help="A torch.load-able state_dict (.pt) or JSON.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (default: MODEL with .pt or .json).")
def export(model_path: Path, fmt: str, out: Path | None) -> None:
    """Write a saved network's weights for PyTorch (nn.Sequential's state_dict) or as JSON."""
    from gdlab.estimators.persist import load_model
    from gdlab.io.safe_npz import ModelFileError
    from gdlab.workflows.export import describe, export_model

    if not model_path.exists():
        raise ModelFileError(f"{model_path}: no such model file; check the path.")
    model = load_model(model_path)
    target = out or model_path.with_suffix(".pt" if fmt == "torch" else ".json")
    export_model(model, target, to=fmt)
    click.echo(f"wrote {target} ({fmt})")
    click.echo(describe(model))
    if fmt == "torch":
        click.echo("load with: net.load_state_dict(torch.load(path, weights_only=True))")
