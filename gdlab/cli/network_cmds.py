"""Commands for networks: `gdlab export` (a saved model's weights as a PyTorch state_dict or
JSON) and `gdlab dataset` (TensorFlow Playground's data sets as a table for `gdlab fit`)."""

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


@cli.command("dataset")
@click.argument("name", type=click.Choice(["circles", "xor", "gaussians", "spirals"]))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The table to write (.csv or .parquet): columns x1, x2 and label.")
@click.option("--samples", default=400, show_default=True, type=click.IntRange(2, None))
@click.option("--noise", default=0.0, show_default=True, type=click.FloatRange(0, None))
@click.option("--seed", default=0, show_default=True, type=int)
def dataset(name: str, out: Path, samples: int, noise: float, seed: int) -> None:
    """Write a playground data set (two features x1, x2 and a 0/1 label) to a table."""
    import io

    import pandas as pd

    from gdlab.core.datasets import make_dataset
    from gdlab.io.atomic import atomic_write_bytes

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter(f"must end in .csv or .parquet, got {out.name!r}.",
                                 param_hint="--out")
    X, y = make_dataset(name, samples, noise=noise, random_state=seed)
    df = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "label": y})
    buf = io.BytesIO()
    if out.suffix.lower() == ".csv":
        buf.write(df.to_csv(index=False).encode())
    else:
        df.to_parquet(buf, index=False)
    atomic_write_bytes(out, buf.getvalue())
    click.echo(f"wrote {out}: {samples} rows of {name} (noise {noise}, seed {seed}); "
               f"fit with: gdlab fit {out} --target label")
