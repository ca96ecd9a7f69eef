"""How cost grows: time per epoch and peak memory of logistic regression for m = 1e4 .. 1e7.

    python benchmarks/scaling.py [--quick] [--repeats N] [--out PATH]

X is m x 100 float64 standard normal (10^7 x 100 is 8 GB), labels from a logistic model.
Each size runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its
own. In it, paired rounds (every candidate once per round, 0.2 s pauses) time:

- ``probe``: a 2-thread read of X, the bound for any full pass (``gdlab.teach._bench.read_probe``);
- ``full``: one full-batch epoch of gdlab's training loop (one fused loss+gradient pass over X
  plus the GD update), i.e. ``gdlab.core.loop.run`` continued by one epoch;
- ``mini``: one epoch of mini-batches of 256 rows (shuffled, Adam), ceil(m/256) steps.

Then ``LogisticRegression(batch_size=None, epochs=2).fit`` and ``batch_size=256, epochs=1``
run once, so the peak includes the estimator's input validation. Memory is reported as
(peak RSS - RSS after imports) / bytes(X): 1.0 means no copy of X.
Slopes are least-squares fits of log(time) on log(m); 1 is linear scaling.
The figure goes to docs/img/scaling.png (``--quick``: m = 1,000 and 10,000, n = 10, both in one
process, figure to a temporary file unless --out).
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gdlab.engines import compiled  # noqa: E402
from gdlab.teach import _bench  # noqa: E402

# the compiled engine on every size: these timings are its steady state, not its start-up
compiled.COMPILE = "always"

N_FEATURES = 100


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(m: int, n: int, repeats: int) -> dict[str, Any]:
    """Time and measure one size (runs in its own process)."""
    from gdlab.core.loop import ModelProblem, TrainConfig, TrainState, run
    from gdlab.core.models import GLM
    from gdlab.estimators.linear import LogisticRegression

    base = _current_rss()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, n))
    w = rng.standard_normal(n) * (2.0 / math.sqrt(n))
    y = (rng.random(m) < 1.0 / (1.0 + np.exp(-(X @ w)))).astype(np.float64)
    model = GLM(n_features=n, n_outputs=1, loss="bce")
    problem = ModelProblem.from_arrays(model, X, y, None, 1e-4)
    states = {}
    configs = {"full": TrainConfig(optimizer="gd", lr=4.0, batch_size=None, tol=None, epochs=1),
               "mini": TrainConfig(optimizer="adam", lr=1e-3, batch_size=256, tol=None,
                                   epochs=1)}
    for k, cfg in configs.items():
        states[k] = TrainState.start(np.zeros(n + 1), cfg.optimizer, random_state=0)

    def epoch(k: str) -> None:
        cfg, st = configs[k], states[k]
        cfg.epochs = st.epoch + 1
        run(problem, st, cfg)

    res = _bench.paired({"probe": _bench.read_probe(X), "full": lambda: epoch("full"),
                         "mini": lambda: epoch("mini")}, repeats=repeats)
    for bs, ep in ((None, 2), (256, 1)):
        LogisticRegression(optimizer="adam", batch_size=bs, epochs=ep, tol=None,
                           random_state=0).fit(X, y)
    peak = _rss_bytes()
    return {"m": m, "n": n, "bytes": X.nbytes, "probe": res.median("probe"),
            "full": res.median("full"), "mini": res.median("mini"),
            "full_over_probe": res.ratio("full", "probe"),
            "steps": -(-m // 256), "base_rss": base, "peak_rss": peak,
            "extra_over_X": (peak - base) / X.nbytes}


def slope(ms: list[int], ts: list[float]) -> float:
    return float(np.polyfit(np.log10(ms), np.log10(ts), 1)[0])


def figure(results: list[dict[str, Any]], path: Path) -> Path:
    from matplotlib.figure import Figure

    from gdlab.plots._save import save_figure

    ms = [r["m"] for r in results]
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    for key, label, marker in (("mini", "mini-batch (256) epoch, Adam", "o"),
                               ("full", "full-batch epoch (fused kernel), GD", "s"),
                               ("probe", "read X once (2 threads): bound", "^")):
        ts = [r[key] for r in results]
        ax.loglog(ms, ts, marker=marker, label=f"{label}: slope {slope(ms, ts):.2f}")
    ax.set_xlabel(f"m (rows), n = {results[0]['n']}, float64")
    ax.set_ylabel("seconds (median of paired rounds)")
    ax.set_title("Time per epoch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    gb = [r["bytes"] / 2**30 for r in results]
    extra = [(r["peak_rss"] - r["base_rss"]) / 2**30 for r in results]
    ax2.loglog(gb, extra, marker="o", label="peak RSS - RSS after imports")
    ax2.loglog(gb, gb, "--", color="gray", label="size of X")
    ax2.set_xlabel("size of X (GiB)")
    ax2.set_ylabel("GiB")
    ax2.set_title("Peak memory (fit, full batch and mini-batch)")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    return save_figure(fig, path)


HEADERS = ["m", "X MB", "read X ms", "full epoch ms", "full/read", "mini epoch ms",
           "mini us/step", "peak-base / X"]


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--worker", nargs=3, type=str, help=argparse_hidden())
    p.add_argument("--out", type=Path, default=None, help="figure path (PNG/SVG/PDF)")
    args = p.parse_args()
    if args.worker:  # sizes (comma-separated), n, repeats: one JSON line per size
        sizes_s, n_s, reps_s = args.worker
        for m in sizes_s.split(","):
            print(json.dumps(worker(int(m), int(n_s), int(reps_s))), flush=True)
        return
    repeats = args.repeats or (3 if args.quick else 5)
    sizes = [1_000, 10_000] if args.quick else [10**4, 10**5, 10**6, 10**7]
    n = 10 if args.quick else N_FEATURES
    out = args.out or (Path(tempfile.gettempdir()) / "gdlab_scaling_quick.png" if args.quick
                       else ROOT / "docs" / "img" / "scaling.png")
    results = []
    # one fresh process per size, so each peak RSS is its own; --quick (smoke test) runs its
    # two tiny sizes in one process to save an interpreter start
    groups = [sizes] if args.quick else [[m] for m in sizes]
    for group in groups:
        reps = repeats if group[-1] < 10**7 else max(2, repeats // 2)
        proc = subprocess.run([sys.executable, __file__, "--worker",
                               ",".join(map(str, group)), str(n), str(reps)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"worker for m={group} failed:\n{proc.stderr}")
        for line in proc.stdout.strip().splitlines()[-len(group):]:
            r = json.loads(line)
            results.append(r)
            print(_bench.table(HEADERS, [row(r)]).splitlines()[-1], flush=True)
    ms = [r["m"] for r in results]
    print()
    print(_bench.machine_info())
    print(f"paired rounds: {repeats} ({max(2, repeats // 2)} at 1e7), medians; one process "
          "per size")
    print(_bench.table(HEADERS, [row(r) for r in results]))
    big = [r for r in results if r["m"] >= 10**5] or results
    mb = [r["m"] for r in big]

    def sl(rs: list[dict[str, Any]], key: str) -> str:
        return f"{slope([r['m'] for r in rs], [r[key] for r in rs]):.2f}"

    print(f"log-log slopes over m={ms[0]:.0e}..{ms[-1]:.0e}: full {sl(results, 'full')}, "
          f"mini {sl(results, 'mini')}, read {sl(results, 'probe')}; from m={mb[0]:.0e}: "
          f"full {sl(big, 'full')}, mini {sl(big, 'mini')}, read {sl(big, 'probe')}")
    print(f"figure: {figure(results, out)}")


def row(r: dict[str, Any]) -> list[Any]:
    return [f"{r['m']:,}", r["bytes"] / 1e6, r["probe"] * 1e3, r["full"] * 1e3,
            r["full_over_probe"], r["mini"] * 1e3, r["mini"] / r["steps"] * 1e6,
            r["extra_over_X"]]


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
