"""The tour a newcomer runs first (`gdlab demo`): every part of gdlab on bundled data.

1. the lesson's worked step (L1), exactly, inputs and outputs;
2. linear, logistic and softmax regression fitted on datasets bundled with scikit-learn
   (diabetes, breast cancer, digits), each with two optimizers, scored on held-out rows beside
   scikit-learn's exact solver of the same objective on the same split;
3. the softmax loss comparison (CCE vs MSE vs BCE on the softmax outputs);
4. peaks (L3): trajectories of three optimizers (together and one panel each), a basin map
   from a grid of starts, an animated GIF of the descent;
5. playground pages: three (peaks, a 1-D quartic, a quadratic bowl) race the optimizers live
   in the browser, one replays a network's fit on two spirals epoch by epoch (its model file
   beside it);
6. a neural network (L5's neurons and layers) on two interleaved spirals beside logistic
   regression, with its boundary during training and its hidden units over the plane.

Everything goes into one folder: figures, playgrounds, ``summary.json`` and an ``index.html``
that teaches from them. No network, no input.
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
     [("gd", 0.1, None), ("adam", 0.01, 32)]),
    ("breast_cancer", "binary", "LogisticRegression",
     [("momentum", 0.05, 32), ("adam", 0.01, 32)]),
    ("digits", "multiclass", "SoftmaxRegression",
     [("gd", 0.5, None), ("adam", 0.01, 64)]),
)
PEAKS_START = (0.5, 1.0)  # GD and Adam settle in the shallow minimum; momentum rolls past it
PEAKS_RUNS = (("gd", 0.02), ("momentum", 0.01), ("adam", 0.05))
# (file, function, what the page shows first)
PLAYGROUNDS = (
    ("playground_peaks.html", "peaks",
     "three minima; drag the start and watch which one each optimizer reaches"),
    ("playground_quartic_1d.html", "quartic_1d",
     "a 1-D function, x^4 - 3x^2 + x: the steps drawn on the curve, a shallow and a deep "
     "minimum"),
    ("playground_quadratic_bowl.html", "quadratic_bowl",
     "a quadratic bowl (condition number 10) with the convergence-rate map of momentum"),
)
# the network page: (file, data set); trained with the page's defaults
NETWORK_PAGE = ("playground_network.html", "spirals")


def _sklearn_reference(task: str, alpha: float, n_train: int) -> tuple[Any, str]:
    """scikit-learn's exact solver for gdlab's objective: mean loss + alpha/2 ||W||^2.

    Multiplying by n: sum loss + n alpha/2 ||W||^2, i.e. Ridge(alpha = n alpha / 2) for the
    squared error and LogisticRegression(C = 1 / (n alpha)) (lbfgs; multinomial for more than
    two classes) for the cross-entropies.
    """
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "regression":
        return Ridge(alpha=n_train * alpha / 2), "Ridge (closed form)"
    return LogisticRegression(C=1.0 / (n_train * alpha), max_iter=10_000), \
        "LogisticRegression (lbfgs)"


def _fit_models(seed: int) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    from gdlab.teach.compare import estimator_for, load_dataset

    rows, curves = [], {}
    for dataset, task, name, settings in MODEL_RUNS:
        X, y, _ = load_dataset(dataset)
        stratify = None if task == "regression" else y
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed,
                                              stratify=stratify)
        reference: dict[float, tuple[float, str]] = {}
        for opt, lr, bs in settings:
            est = estimator_for(task, optimizer=opt, lr=lr, batch_size=bs, epochs=300,
                                random_state=seed)
            pipe = make_pipeline(StandardScaler(), est)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                pipe.fit(Xtr, ytr)
            seconds = time.perf_counter() - t0
            alpha = float(est.alpha_)  # the penalty the fit used (alpha="auto": 1/n)
            if alpha not in reference:
                sk, sk_name = _sklearn_reference(task, alpha, len(Xtr))
                sk_pipe = make_pipeline(StandardScaler(), sk).fit(Xtr, ytr)
                reference[alpha] = (float(sk_pipe.score(Xte, yte)), sk_name)
            rows.append({
                "dataset": dataset, "model": name, "optimizer": opt, "lr": lr,
                "batch_size": "full" if bs is None else bs,
                "metric": "R^2" if task == "regression" else "accuracy",
                "score": float(pipe.score(Xte, yte)), "epochs": int(est.n_iter_),
                "final_loss": float(est.loss_curve_[-1]), "seconds": seconds,
                "n_train": len(Xtr), "n_test": len(Xte), "alpha": alpha,
                "sklearn_score": reference[alpha][0], "sklearn_model": reference[alpha][1],
            })
            curves[f"{opt} / {dataset} (lr={lr:g}, batch {rows[-1]['batch_size']})"] = list(
                est.loss_curve_)
    return rows, curves


def _peaks(out: Path, seed: int, grid: int) -> dict[str, Any]:
    from gdlab.functions.descent import basins, minimize
    from gdlab.plots.surfaces import animate_descent, plot_basins, plot_trajectories

    runs = [minimize("peaks", PEAKS_START, optimizer=o, lr=lr, steps=600) for o, lr in PEAKS_RUNS]
    figures = {"peaks_trajectories.png": plot_trajectories("peaks", runs, kind="heatmap")}
    # one panel per optimizer: paths that share a stretch would hide each other in one map
    for r in runs:
        figures[f"peaks_{r.optimizer}.png"] = plot_trajectories(
            "peaks", [r], kind="heatmap", title=f"peaks: {r.optimizer} alone")
    b = basins("peaks", grid=grid, optimizer="gd", lr=0.05, steps=3000)
    figures["peaks_basins.png"] = plot_basins(b)
    for name, fig in figures.items():
        _save(fig, out / name)
    animate_descent("peaks", runs, out / "peaks_descent.gif", fps=10, max_frames=30)
    return {
        "start": list(PEAKS_START),
        "trajectories": [{"optimizer": r.optimizer, "lr": r.lr, "status": r.status,
                          "end": [float(v) for v in r.x], "value": float(r.value),
                          "steps": int(r.n_steps)} for r in runs],
        "basins": {"grid": grid, "optimizer": "gd", "lr": 0.05, "steps": 3000,
                   "shares": {str(k): float(v) for k, v in b.shares.items()}},
        "figures": [*figures, "peaks_descent.gif"],
    }


def _playgrounds(out: Path, seed: int) -> list[dict[str, str]]:
    from gdlab.playground import write_playground
    from gdlab.playground.network import network_data, train_network, write_network_playground

    pages = []
    for name, function, text in PLAYGROUNDS:
        write_playground(function, out / name)
        pages.append({"file": name, "function": function, "text": text})
    name, dataset = NETWORK_PAGE
    replay = train_network(network_data(dataset, seed=seed), seed=seed)
    _, model = write_network_playground(replay, out / name)
    s = replay.settings
    shape = f"{'-'.join(map(str, s['hidden']))} {'/'.join(sorted(set(s['activation'])))}"
    text = (f"a network ({shape}) learning two {dataset}: scrub through its {s['epochs']} "
            "epochs and watch the boundary, every hidden unit and the losses")
    pages.append({"file": name, "function": f"a network on {dataset}", "text": text,
                  "model": model.name})
    return pages


def _save(fig: Any, path: Path) -> None:
    from gdlab.plots._save import save_figure

    save_figure(fig, path)


def run_demo(out: str | Path = "gdlab-demo", *, seed: int = 0, grid: int = 61,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the tour, write figures, playgrounds, ``summary.json`` and ``index.html`` into
    ``out``.

    Returns the summary (also written as JSON). ``progress`` receives one line per part.
    """
    from gdlab.plots.curves import plot_loss_curves, plot_softmax_losses
    from gdlab.teach.compare import compare_softmax_losses, load_dataset
    from gdlab.teach.explain import WORKED_LR, explain_linear_step

    say = progress or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    say("1/6 the lesson's worked step (Way 3, mean reduction)")
    step = explain_linear_step(3).to_dict()
    step["lr"] = WORKED_LR
    say("2/6 linear, logistic and softmax regression on bundled datasets, beside scikit-learn")
    rows, curves = _fit_models(seed)
    _save(plot_loss_curves(curves, title="Training loss"), out / "models_loss_curves.png")
    say("3/6 softmax: CCE vs MSE vs BCE on digits")
    X, y, _ = load_dataset("digits")
    loss_curves = compare_softmax_losses(X, y, epochs=40, random_state=seed)
    _save(plot_softmax_losses(loss_curves), out / "softmax_losses.png")
    say(f"4/6 peaks: trajectories, a {grid}x{grid} basin map, an animation")
    peaks = _peaks(out, seed, grid)
    say("5/6 playgrounds: peaks, a 1-D function, a quadratic bowl, a network's training")
    playgrounds = _playgrounds(out, seed)
    say("6/6 a network on two spirals, beside logistic regression")
    network = _network(out, seed)
    summary = {
        "worked_step": step,
        "models": rows,
        "softmax_losses": [{"loss": c.loss, "epochs_to_90pct": c.epochs_to(0.9),
                            "final_accuracy": c.test_accuracy[-1]} for c in loss_curves],
        "peaks": peaks,
        "playgrounds": playgrounds,
        "seed": seed,
        "network": network,
        "figures": ["models_loss_curves.png", "softmax_losses.png", *peaks["figures"],
                    *network["figures"]],
        "seconds": time.perf_counter() - t0,
    }
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    atomic_write_bytes(out / "index.html", render_html(summary).encode())
    return summary


# -- the page ----------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], align: str = "") -> str:
    """An HTML table; ``align`` has one letter per column, "r" for numbers (default "l")."""
    def cls(i: int) -> str:
        return ' class="r"' if i < len(align) and align[i] == "r" else ""

    head = "".join(f"<th{cls(i)}>{_esc(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
                   for r in rows)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _value(v: Any) -> str:
    """A number, vector or matrix as HTML (a matrix as rows)."""
    if isinstance(v, list) and v and isinstance(v[0], list):
        return "<br>".join("[" + ", ".join(f"{x:g}" for x in row) + "]" for row in v)
    if isinstance(v, list):
        return "[" + ", ".join(f"{x:g}" for x in v) + "]"
    return f"{v:g}" if isinstance(v, float) else _esc(v)


def _figure(name: str, caption: str, key: str = "") -> str:
    keyline = f'<p class="key">{key}</p>' if key else ""
    # the picture links to itself: full size on a phone
    return (f'<figure><a href="{_esc(name)}"><img src="{_esc(name)}" alt="{_esc(caption)}">'
            f"</a><figcaption>{_esc(caption)}</figcaption>{keyline}</figure>")


# the markers of gdlab.plots.surfaces, drawn in HTML for the keys under the figures
_KEY_TRAJ = (
    '<span class="k"><i class="m circle"></i>large circle: the start</span>'
    '<span class="k"><i class="m square"></i>square: where the descent stopped</span>'
    '<span class="k"><i class="m dot"></i>small dots: evenly spaced steps (their spacing '
    "shows the step size)</span>"
    '<span class="k"><i class="m star">&#9733;</i>white star: a minimum</span>'
    '<span class="k"><i class="m tri">&#9650;</i>red triangle: a maximum</span>'
    '<span class="k"><i class="m cross">&#10006;</i>yellow cross: a saddle point</span>'
    '<span class="k">background: f (colour bar on the right), dark low, yellow high</span>'
)
_KEY_BASINS = (
    '<span class="t">each square: one start of the grid, coloured by where plain GD ended '
    "(the legend beside the map gives each outcome's share; <em>escaped</em> means the path "
    "left the box, <em>not converged</em> that it was still moving after the last step)</span>"
    '<span class="k"><i class="m star">&#9733;</i>minimum</span>'
    '<span class="k"><i class="m tri">&#9650;</i>maximum</span>'
    '<span class="k"><i class="m cross">&#10006;</i>saddle</span>'
    '<span class="k">thin lines: contours of f (dashed below 0)</span>'
)


def _step_section(step: dict[str, Any]) -> str:
    q = {d["name"]: d for d in step["quantities"]}
    inputs = [["X", "(4, 2)", _value(q["X"]["value"]), _esc(q["X"]["formula"])],
              ["y", "(4,)", _value(q["y"]["value"]), _esc(q["y"]["formula"])],
              ["theta", "(2,)", _value(q["theta"]["value"]), _esc(q["theta"]["formula"])],
              ["lr", "scalar", _value(step.get("lr", 0.01)), "learning rate"]]
    outputs = [[n, "x".join(map(str, q[n]["shape"])) or "scalar", _value(q[n]["value"]),
                _esc(q[n]["formula"])]
               for n in ("y_hat", "residual", "loss", "k", "grad", "theta_new", "loss_new")
               if n in q]
    return f"""
<section id="step">
<h2>1. One step of gradient descent, every number</h2>
<p class="claim">The lesson's first claim: one step of gradient descent is three lines of
linear algebra. Predict <code>y_hat = X theta</code>, take the gradient of the mean squared
error <code>grad = X<sup>T</sup> (2/m)(y_hat - y)</code>, and move against it:
<code>theta_new = theta - lr * grad</code>. The tables below are that step on the lesson's
four samples; the loss falls from {_value(q["loss"]["value"])} to
{_value(q["loss_new"]["value"])}.</p>
<p class="note">{_esc(step["title"])}; {_esc(step["convention"])}.</p>
<h3>Inputs</h3>
{_table(["name", "shape", "value", "meaning"], inputs, "lrr")}
<h3>Outputs</h3>
{_table(["name", "shape", "value", "formula"], outputs, "lrr")}
<p class="note">Reproduce: <code>gdlab explain --way 3</code>.</p>
</section>"""


def _models_section(summary: dict[str, Any]) -> str:
    rows = []
    for r in summary["models"]:
        diff = r["score"] - r["sklearn_score"]
        metric = "R<sup>2</sup>" if r["metric"] == "R^2" else _esc(r["metric"])
        rows.append([f"{_esc(r['dataset'])}<br><small>{_esc(r['model'])}, {metric}</small>",
                     f"{_esc(r['optimizer'])}<br><small>lr {r['lr']:g}, batch "
                     f"{_esc(r['batch_size'])}</small>",
                     f"<b>{r['score']:.4f}</b>", f"{r['sklearn_score']:.4f}", f"{diff:+.4f}",
                     _esc(r["epochs"]), f"{r['seconds']:.2f}"])
    n = {r["dataset"]: (r["n_train"], r["n_test"]) for r in summary["models"]}
    splits = "; ".join(f"{d}: {a} training rows, {b} held out" for d, (a, b) in n.items())
    worst = max(abs(r["score"] - r["sklearn_score"]) for r in summary["models"])
    return f"""
<section id="models">
<h2>2. Three models, two optimizers each, beside scikit-learn</h2>
<p class="claim">Linear, logistic and softmax regression are one model with three output
functions, and gradient descent fits all three. Each is fitted here with two optimizers on
three datasets that ship with scikit-learn and scored on rows it never saw; beside each score
stands scikit-learn's exact solver of the <em>same</em> objective (the same L2 penalty, the
same standardized split). The two agree within {worst:.3f} in every row; where they differ,
the descent stopped before the exact optimum, which on unseen rows can score a little higher
or a little lower.</p>
{_table(["data, model, score", "optimizer", "gdlab", "scikit-learn", "difference",
         "epochs", "seconds"], rows, "llrrrrr")}
<p class="note">Held-out scores: R<sup>2</sup> for regression, accuracy for classifiers.
Splits (25 % held out, seed {summary.get("seed", 0)}): {_esc(splits)}. scikit-learn:
<code>Ridge(alpha = n alpha / 2)</code> for the squared error and
<code>LogisticRegression(C = 1 / (n alpha))</code> for the cross-entropies, which minimize
gdlab's mean loss + alpha/2 ||W||<sup>2</sup> (alpha = 1e-4) exactly.</p>
{_figure("models_loss_curves.png", "Training loss per epoch, one panel per dataset, one line "
         "per optimizer (log scale). A line that stops early met the stopping rule (the loss "
         "improved by less than 1e-4 for 5 epochs).")}
</section>"""


def _softmax_section(summary: dict[str, Any]) -> str:
    names = {"cce": "categorical cross-entropy", "mse": "MSE on the softmax outputs",
             "bce": "BCE on the softmax outputs"}
    rows = [[_esc(names.get(c["loss"], c["loss"])), _esc(c["epochs_to_90pct"]),
             f"{c['final_accuracy']:.4f}"] for c in summary["softmax_losses"]]
    by = {c["loss"]: c for c in summary["softmax_losses"]}
    fast = by.get("cce", {}).get("epochs_to_90pct")
    slow = by.get("mse", {}).get("epochs_to_90pct")
    return f"""
<section id="softmax">
<h2>3. Which loss for softmax regression?</h2>
<p class="claim">The lesson's claim: with softmax outputs, cross-entropy is the loss to use,
because its gradient is simply y_hat - y; squared error on the same outputs multiplies that
by the softmax's own slope, which is small when the model is confidently wrong. On digits,
cross-entropy reaches 90 % held-out accuracy at epoch {fast}, squared error at epoch
{slow}.</p>
{_table(["loss", "epochs to 90 % accuracy", "accuracy after 40 epochs"], rows, "lrr")}
{_figure("softmax_losses.png", "Left: held-out accuracy per epoch for each loss (the dotted "
         "line is 90 %). Right: the gradient's norm per epoch (log scale): squared error's "
         "gradient starts small, so its first epochs barely move.")}
</section>"""


def _peaks_section(summary: dict[str, Any]) -> str:
    p = summary["peaks"]
    start = ", ".join(f"{v:g}" for v in p["start"])
    rows = [[_esc(t["optimizer"]), _esc(t["lr"]), _esc(t["status"]), _esc(t["steps"]),
             "(" + ", ".join(f"{v:.3f}" for v in t["end"]) + ")", f"{t['value']:.4f}"]
            for t in p["trajectories"]]
    deepest = min(p["trajectories"], key=lambda t: t["value"])
    others = [t for t in p["trajectories"] if t is not deepest]
    stops = "; ".join(f"{t['optimizer']} stops at f = {t['value']:.3f}" for t in others)
    b = p["basins"]
    shares = [[_esc(k), f"{v:.1%}"] for k, v in b["shares"].items()]
    panels = "".join(_figure(f"peaks_{t['optimizer']}.png",
                             f"{t['optimizer']} alone (lr {t['lr']:g}): {t['status']} after "
                             f"{t['steps']} steps at f = {t['value']:.3f}")
                     for t in p["trajectories"])
    return f"""
<section id="peaks">
<h2>4. Descent on a landscape with several minima</h2>
<p class="claim">Gradient descent only ever walks downhill from where it starts, so on a
surface with several minima the start and the optimizer decide which one it reaches. From
({start}) on MATLAB's peaks, {_esc(stops)}, while {_esc(deepest["optimizer"])} reaches the
deepest minimum of the three (f = {deepest["value"]:.3f}): its velocity carries it on where
the slope alone would have stopped.</p>
{_table(["optimizer", "lr", "stopped because", "steps", "end point", "f at the end"], rows,
        "lrlrrr")}
{_figure("peaks_trajectories.png", "The three descents on one map.", _KEY_TRAJ)}
<p class="note">Paths that share a stretch cover each other on one map; the panels show each
optimizer alone (same markers; each path drawn in red).</p>
<div class="panels">{panels}</div>
<p class="claim">Which start leads where: each of {b["grid"]}&times;{b["grid"]} starts
descends with plain GD (lr {b["lr"]:g}, up to {b["steps"]} steps) and is coloured by its
outcome. The coloured regions are the basins of attraction; the border between two basins
runs along the ridges and saddles.</p>
{_table(["outcome", "share of starts"], shares, "lr")}
{_figure("peaks_basins.png", "Basins of attraction of plain gradient descent on peaks.",
         _KEY_BASINS)}
{_figure("peaks_descent.gif", "The three descents animated, step by step (same markers "
         "and colours as the first map).")}
<p class="note">Reproduce: <code>gdlab minimize peaks --start {start.replace(" ", "")}
--compare gd,momentum,adam --plot paths.png</code> and
<code>gdlab basins peaks --plot basins.png</code>.</p>
</section>"""


def _network(out: Path, seed: int) -> dict[str, Any]:
    """An MLP and logistic regression on two interleaved spirals, with the boundary during
    training and every hidden unit's output over the plane."""
    from sklearn.model_selection import train_test_split

    from gdlab.core.datasets import make_spirals
    from gdlab.estimators.linear import LogisticRegression
    from gdlab.estimators.mlp import MLPClassifier
    from gdlab.plots.networks import Snapshots, plot_boundary_over_training, plot_hidden_units

    t0 = time.perf_counter()
    X, y = make_spirals(600, noise=0.15, random_state=seed)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    linear = LogisticRegression(random_state=seed).fit(Xtr, ytr)
    snaps = Snapshots([5, 50, 150, 400])
    net = MLPClassifier((16, 16), activation="tanh", lr=0.01, batch_size=32, epochs=400,
                        tol=None, random_state=seed, callbacks=[snaps]).fit(Xtr, ytr)
    _save(plot_boundary_over_training(net.model_, snaps.thetas, snaps.epochs_seen, X, y,
                                      resolution=90), out / "network_training.png")
    _save(plot_hidden_units(net, X, y, resolution=50), out / "network_units.png")
    return {"n_train": len(ytr), "n_test": len(yte), "hidden": [16, 16], "activation": "tanh",
            "epochs": net.n_iter_, "linear_accuracy": float(linear.score(Xte, yte)),
            "network_accuracy": float(net.score(Xte, yte)),
            "seconds": time.perf_counter() - t0,
            "figures": ["network_training.png", "network_units.png"]}


def _network_section(summary: dict[str, Any]) -> str:
    n = summary.get("network")
    if not n:
        return ""
    rows = [["logistic regression", "-", f"{n['linear_accuracy']:.4f}"],
            [f"MLP {n['hidden'][0]}-{n['hidden'][1]} {_esc(n['activation'])}",
             str(n["epochs"]), f"<b>{n['network_accuracy']:.4f}</b>"]]
    replay = next((g for g in summary.get("playgrounds", []) if "model" in g), None)
    watch = (f'<p class="try">Watch a network learn the spirals epoch by epoch: <a '
             f'href="{_esc(replay["file"])}">the network playground</a> (a scrubber over its '
             "training, every hidden unit, the losses).</p>" if replay else "")
    return f"""
<section id="network">
<h2>6. A network: what a linear boundary cannot separate</h2>
<p class="claim">The last lesson's neurons and layers: each hidden unit computes
<code>a = f(x W + b)</code>, and stacking two layers of them bends the boundary that
logistic regression can only draw straight. On two interleaved spirals
({n["n_train"]} training points, {n["n_test"]} held out) logistic regression is no better
than a coin; the network, trained by the same loop and Adam, separates them.</p>
{_table(["model", "epochs", "held-out accuracy"], rows, "lrr")}
{_figure("network_training.png", "The network's boundary after 5, 50, 150 and 400 epochs "
         "(colour: the probability of class 1; black line: 0.5).")}
{_figure("network_units.png", "Every hidden unit's output over the plane (first 8 of each "
         "layer): the first layer draws soft lines, the second combines them into curves; "
         "the last panel is the output.")}
{watch}
<p class="note">Reproduce: <code>gdlab dataset spirals --out spirals.csv --noise 0.15</code>
then <code>gdlab fit spirals.csv --target label --model mlp --hidden 16,16 --activation tanh
--lr 0.01 --batch-size 32 --epochs 400 --tol none --baseline</code>; one forward and backward
pass by hand: <code>gdlab explain --model mlp</code>.</p>
</section>"""


def _playground_section(summary: dict[str, Any]) -> str:
    pages = summary.get("playgrounds", [])
    items = "".join(f'<li><a href="{_esc(g["file"])}">{_esc(g["function"])}</a>: '
                    f"{_esc(g['text'])}</li>" for g in pages if "model" not in g)
    nets = "".join(f'<li><a href="{_esc(g["file"])}">{_esc(g["function"])}</a>: '
                   f"{_esc(g['text'])} (the fitted model: <code>{_esc(g['model'])}</code>)</li>"
                   for g in pages if "model" in g)
    return f"""
<section id="play">
<h2>5. Try it: playgrounds</h2>
<p class="claim">Each page below races GD, momentum (both forms), Nesterov, Adagrad, RMSprop,
Adam and AdamW live: click or drag to move the start, move the sliders for the learning
rate, momentum and betas, press <em>Step</em> to see each update's terms with their numbers,
and show the basin map for any optimizer. The pages work offline; they run gdlab's own
update rules in the browser, and gdlab's tests check that their paths equal
<code>minimize</code>'s point for point.</p>
<ul class="links">{items}</ul>
<p class="claim">A network's training, replayed: gdlab fits a small network in Python and the
page steps through its epochs, as TensorFlow Playground shows a network: the boundary over
the data, every hidden unit's output over the plane, and the training and test loss. The
model file beside the page predicts with <code>gdlab predict</code>.</p>
<ul class="links">{nets}</ul>
<p class="note">Any function: <code>gdlab playground "x^2 + 3*y^2 - x*y" --out
bowl.html</code>; any data set or table of two features: <code>gdlab playground --network
xor --hidden 4,4 --out xor.html</code>.</p>
</section>"""


_STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 0 auto; padding: 1em; color: #1d1d1f; line-height: 1.5; }
h1 { font-size: 1.7em; margin: 0.3em 0; } h2 { margin-top: 2em; font-size: 1.3em; }
h3 { font-size: 1.02em; margin: 1em 0 0.3em; }
nav a { margin-right: 1em; white-space: nowrap; }
.claim { font-size: 1.04em; } .note { color: #555; font-size: 0.92em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
td, th { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; }
th { background: #f3f4f6; text-align: left; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
td small { color: #555; }
figure { margin: 1.4em 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.92em; color: #333; margin-top: 0.3em; }
.key { font-size: 0.88em; color: #333; display: flex; flex-wrap: wrap; gap: 0.2em 1.2em;
       margin: 0.3em 0; }
.k { display: inline-flex; align-items: center; gap: 0.35em; } .t { display: block; }
.m { display: inline-block; font-style: normal; text-align: center; width: 1.1em;
     line-height: 1.1em; flex: none; }
.m.circle { width: 0.9em; height: 0.9em; border-radius: 50%; background: #ff9f0a;
            border: 1.5px solid #000; }
.m.square { width: 0.8em; height: 0.8em; background: #ff9f0a; border: 1.5px solid #000; }
.m.dot { width: 0.4em; height: 0.4em; border-radius: 50%; background: #ff9f0a;
         border: 1px solid #000; }
.m.star { color: #fff; -webkit-text-stroke: 1px #000; font-size: 1.15em; }
.m.tri { color: #ff3b30; -webkit-text-stroke: 0.6px #000; }
.m.cross { color: #ffe600; -webkit-text-stroke: 0.6px #000; }
.panels { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0.8em; }
.panels figure { margin: 0.4em 0; }
.try { background: #eef6ff; border: 1px solid #bcd7f5; padding: 0.6em 0.9em;
       border-radius: 6px; }
.links li { margin: 0.3em 0; }
code { background: #f4f4f4; padding: 1px 4px; word-break: break-word; }
@media (max-width: 700px) {
  body { padding: 0.6em; } h1 { font-size: 1.35em; }
  table { font-size: 0.8em; } td, th { padding: 3px 4px; }
  .panels { grid-template-columns: minmax(0, 1fr); }
}
"""


def render_html(summary: dict[str, Any]) -> str:
    """A self-contained page (relative links only) that teaches from the tour's results."""
    first = summary.get("playgrounds", [{}])[0].get("file", "")
    try_box = (f'<p class="try">Want to play first? Open <a href="{_esc(first)}">the peaks '
               "playground</a>: drag the start and watch eight optimizers race downhill.</p>"
               if first else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>gdlab demo: gradient descent, step by step</title>
<style>{_STYLE}</style></head><body>
<h1>gdlab demo: gradient descent, step by step</h1>
<p>This page was written by <code>gdlab demo</code> in {summary["seconds"]:.1f} s on this
machine, from data bundled with scikit-learn: nothing was downloaded. It follows the lessons
in order: one step by hand, the same step fitting real models, the choice of loss,
descent on a landscape with several minima, and a small neural network.</p>
<nav><a href="#step">1. one step</a><a href="#models">2. models</a>
<a href="#softmax">3. losses</a><a href="#peaks">4. several minima</a>
<a href="#play">5. playgrounds</a><a href="#network">6. a network</a></nav>
{try_box}
{_step_section(summary["worked_step"])}
{_models_section(summary)}
{_softmax_section(summary)}
{_peaks_section(summary)}
{_playground_section(summary)}
{_network_section(summary)}
</body></html>
"""
