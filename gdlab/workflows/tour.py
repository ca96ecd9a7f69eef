"""The tour a newcomer runs first (`gdlab demo`): every part of gdlab on bundled data.

1. the lesson's worked step (L1), exactly;
2. linear, logistic and softmax regression fitted on datasets bundled with scikit-learn
   (diabetes, breast cancer, digits), each with two optimizers, scored on held-out rows;
3. the softmax loss comparison (CCE vs MSE vs BCE on the softmax outputs);
4. peaks (L3): trajectories of three optimizers, a basin map from a grid of starts, an
   animated GIF of the descent.

Everything goes into one folder: figures, ``summary.json`` and an ``index.html`` that shows
them. No network, no input.
"""

from __future__ import annotations

import html
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gdlab.io.atomic import atomic_write_bytes

MODEL_RUNS = (
    # (dataset, task, estimator, [(optimizer, lr, batch_size), ...])
    ("diabetes", "regression", "LinearRegression",
     [("gd", 0.1, None), ("adam", 0.1, 32)]),
    ("breast_cancer", "binary", "LogisticRegression",
     [("momentum", 0.05, 32), ("adam", 0.01, 32)]),
    ("digits", "multiclass", "SoftmaxRegression",
     [("gd", 0.5, None), ("adam", 0.01, 64)]),
)


def _fit_models(seed: int) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    from gdlab.teach.compare import estimator_for, load_dataset

    rows, curves = [], {}
    for dataset, task, name, settings in MODEL_RUNS:
        X, y, _ = load_dataset(dataset)
        stratify = None if task == "regression" else y
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed,
                                              stratify=stratify)
        for opt, lr, bs in settings:
            est = estimator_for(task, optimizer=opt, lr=lr, batch_size=bs, epochs=300,
                                random_state=seed)
            pipe = make_pipeline(StandardScaler(), est)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                pipe.fit(Xtr, ytr)
            seconds = time.perf_counter() - t0
            rows.append({
                "dataset": dataset, "model": name, "optimizer": opt, "lr": lr,
                "batch_size": "full" if bs is None else bs,
                "metric": "R^2" if task == "regression" else "accuracy",
                "score": float(pipe.score(Xte, yte)), "epochs": int(est.n_iter_),
                "final_loss": float(est.loss_curve_[-1]), "seconds": seconds,
            })
            curves[f"{opt} / {dataset} (lr={lr:g}, batch {rows[-1]['batch_size']})"] = list(
                est.loss_curve_)
    return rows, curves


def _peaks(out: Path, seed: int, grid: int) -> dict[str, Any]:
    from gdlab.functions.descent import basins, minimize
    from gdlab.plots.surfaces import animate_descent, plot_basins, plot_trajectories

    start = (0.5, 1.0)  # GD and Adam settle in the shallow minimum; momentum rolls past it
    runs = [minimize("peaks", start, optimizer=o, lr=lr, steps=600)
            for o, lr in (("gd", 0.02), ("momentum", 0.01), ("adam", 0.05))]
    figures = {"peaks_trajectories.png": plot_trajectories("peaks", runs, kind="heatmap")}
    b = basins("peaks", grid=grid, optimizer="gd", lr=0.05, steps=3000)
    figures["peaks_basins.png"] = plot_basins(b)
    for name, fig in figures.items():
        _save(fig, out / name)
    animate_descent("peaks", runs, out / "peaks_descent.gif", fps=10, max_frames=30)
    return {
        "trajectories": [{"optimizer": r.optimizer, "lr": r.lr, "status": r.status,
                          "end": [float(v) for v in r.x], "value": float(r.value),
                          "steps": int(r.n_steps)} for r in runs],
        "basins": {"grid": grid, "shares": {str(k): float(v) for k, v in b.shares.items()}},
        "figures": [*figures, "peaks_descent.gif"],
    }


def _save(fig: Any, path: Path) -> None:
    from gdlab.plots._save import save_figure

    save_figure(fig, path)


CAPTIONS = {
    "models_loss_curves.png": "Training loss per epoch: three models on bundled data, two "
                              "optimizers each.",
    "softmax_losses.png": "Softmax regression on digits trained with CCE, with MSE and with BCE "
                          "on the softmax outputs (lesson L2).",
    "peaks_trajectories.png": "Peaks (lesson L3): one start, three optimizers; momentum "
                              "rolls past the shallow minimum to the global one.",
    "peaks_basins.png": "Where plain gradient descent ends from each start on a grid.",
    "peaks_descent.gif": "The descent, animated.",
}


def run_demo(out: str | Path = "gdlab-demo", *, seed: int = 0, grid: int = 61,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the tour, write figures, ``summary.json`` and ``index.html`` into ``out``.

    Returns the summary (also written as JSON). ``progress`` receives one line per part.
    """
    from gdlab.plots.curves import plot_loss_curves, plot_softmax_losses
    from gdlab.teach.compare import compare_softmax_losses, load_dataset
    from gdlab.teach.explain import explain_linear_step

    say = progress or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    say("1/4 the lesson's worked step (Way 3, mean reduction)")
    step = explain_linear_step(3).to_dict()
    say("2/4 linear, logistic and softmax regression on bundled datasets")
    rows, curves = _fit_models(seed)
    _save(plot_loss_curves(curves, title="Training loss"), out / "models_loss_curves.png")
    say("3/4 softmax: CCE vs MSE vs BCE on digits")
    X, y, _ = load_dataset("digits")
    loss_curves = compare_softmax_losses(X, y, epochs=40, random_state=seed)
    _save(plot_softmax_losses(loss_curves), out / "softmax_losses.png")
    say(f"4/4 peaks: trajectories, a {grid}x{grid} basin map, an animation")
    peaks = _peaks(out, seed, grid)
    summary = {
        "worked_step": step,
        "models": rows,
        "softmax_losses": [{"loss": c.loss, "epochs_to_90pct": c.epochs_to(0.9),
                            "final_accuracy": c.test_accuracy[-1]} for c in loss_curves],
        "peaks": peaks,
        "figures": ["models_loss_curves.png", "softmax_losses.png", *peaks["figures"]],
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    atomic_write_bytes(out / "index.html", render_html(summary).encode())
    return summary


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(summary: dict[str, Any]) -> str:
    """A self-contained page (relative image links) showing every figure and table."""
    q = {d["name"]: d for d in summary["worked_step"]["quantities"]}
    step_rows = [[n, "x".join(map(str, q[n]["shape"])) or "scalar", q[n]["value"]]
                 for n in ("y_hat", "loss", "k", "grad", "theta_new", "loss_new")]
    model_rows = [[r["dataset"], r["model"], r["optimizer"], r["lr"], r["batch_size"],
                   r["metric"], f"{r['score']:.4f}", r["epochs"], f"{r['seconds']:.2f}"]
                  for r in summary["models"]]
    figures = "".join(
        f'<figure><img src="{html.escape(name)}" alt="{html.escape(name)}">'
        f"<figcaption>{html.escape(CAPTIONS.get(name, name))}</figcaption></figure>"
        for name in summary["figures"])
    shares = ", ".join(f"{k}: {v:.1%}" for k, v in summary["peaks"]["basins"]["shares"].items())
    step_title = summary["worked_step"]["title"]
    step_convention = summary["worked_step"]["convention"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gdlab demo</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
figure {{ margin: 2em 0; }} img {{ max-width: 100%; border: 1px solid #eee; }}
code {{ background: #f4f4f4; padding: 1px 4px; }}
</style></head><body>
<h1>gdlab demo</h1>
<p>Gradient descent, understandable and fast. Made by <code>gdlab demo</code> in
{summary["seconds"]:.1f} s.</p>
<h2>1. One step of the lesson's worked example</h2>
<p>{html.escape(step_title)}; {html.escape(step_convention)}</p>
{_table(["quantity", "shape", "value"], step_rows)}
<h2>2. Three models, two optimizers each (held-out scores)</h2>
{_table(["data", "model", "optimizer", "lr", "batch", "metric", "score", "epochs", "seconds"],
        model_rows)}
<h2>3. Figures</h2>
<p>Basin shares on peaks: {html.escape(shares)}.</p>
{figures}
</body></html>
"""
