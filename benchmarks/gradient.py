"""Full-batch linear / logistic gradient: gdlab fused vs NumPy plain vs PyTorch CPU.

    python benchmarks/gradient.py [--quick] [--repeats N]

Each case times, in paired rounds (every candidate once per round, 0.2 s pause between
calls): a 2-thread read of X with eight streams per thread (the bandwidth probe: the bound),
the same read with one stream per thread (``np.sum``, 1.5-1.6x slower), gdlab's
`linear_loss_grad` (what `loss_grad` dispatches to at this size), gdlab's blocked NumPy
path, the bare NumPy formula ``X.T @ (f(X @ w + b) - y)`` and the same formula in torch on
``torch.from_numpy(X)`` (no copy, 2 threads). Ratios are medians over rounds of per-round ratios.
Goals: n=100 within 1.3x of the bound and >= 1.5x faster than torch; n=10 within 2x.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gdlab.engines.kernels import blocked_linear_loss_grad, linear_loss_grad  # noqa: E402
from gdlab.teach import _bench  # noqa: E402


def cases(quick: bool) -> list[tuple[int, int, str, type]]:
    if quick:
        return [(100_000, 100, "C", np.float64), (100_000, 100, "F", np.float64),
                (100_000, 100, "C", np.float32), (1_000_000, 10, "C", np.float64)]
    return [
        (1_000_000, 100, "C", np.float64),
        (1_000_000, 100, "F", np.float64),
        (1_000_000, 100, "C", np.float32),
        (1_000_000, 100, "F", np.float32),
        (10_000_000, 10, "C", np.float64),
        (10_000_000, 10, "F", np.float64),
    ]


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--order", choices=["C", "F"], default=None, help="only this memory order")
    p.add_argument("--loss", choices=["mse", "bce"], default=None, help="only this loss")
    args = p.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    rows = []
    for m, n, order, dtype in cases(args.quick):
        if args.order and order != args.order:
            continue
        X = np.asarray(rng.standard_normal((m, n), dtype=np.float32 if dtype == np.float32
                                           else np.float64), order=order)
        X = np.asarray(X, dtype=dtype, order=order)
        w = (rng.standard_normal(n) * 0.1).astype(dtype)
        for loss in ("mse", "bce"):
            if args.loss and loss != args.loss:
                continue
            y = rng.standard_normal(m) if loss == "mse" else (rng.random(m) < 0.5) * 1.0
            y = y.astype(dtype)
            link = (lambda z: z) if loss == "mse" else expit
            cand = {
                "probe": _bench.read_probe(X),
                "probe1": _bench.read_probe(X, streams=False),
                "gdlab": lambda X=X, y=y, w=w, loss=loss: linear_loss_grad(X, y, w, 0.1,
                                                                           loss=loss),
                "blocked": lambda X=X, y=y, w=w, loss=loss: blocked_linear_loss_grad(
                    X, y, w, 0.1, loss=loss),
                "numpy": lambda X=X, y=y, w=w, link=link: X.T @ (link(X @ w + 0.1) - y),
            }
            if torch is not None:
                Xt, yt, wt = (torch.from_numpy(a) for a in (X, y, w))
                tl = (lambda z: z) if loss == "mse" else torch.sigmoid
                cand["torch"] = lambda Xt=Xt, yt=yt, wt=wt, tl=tl: Xt.T @ (tl(Xt @ wt + 0.1) - yt)
            res = _bench.paired(cand, repeats=repeats)
            row = [f"{m:,}x{n}", order, np.dtype(dtype).name, loss,
                   res.median("probe") * 1e3, res.median("gdlab") * 1e3,
                   res.ratio("gdlab", "probe"), res.ratio("gdlab", "probe1"),
                   res.ratio("blocked", "probe"),
                   res.ratio("numpy", "probe")]
            if torch is not None:
                row += [res.ratio("torch", "probe"), res.ratio("torch", "gdlab")]
            rows.append(row)
            print(_bench.table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
        del X, cand
        gc.collect()
    print()
    print(_bench.machine_info())
    print(f"paired rounds: {repeats} (medians)")
    print(_bench.table(HEADERS, rows))


HEADERS = ["X", "order", "dtype", "loss", "bound ms", "gdlab ms", "gdlab/bound",
           "gdlab/1-stream read", "blocked/bound", "numpy/bound", "torch/bound", "torch/gdlab"]

if __name__ == "__main__":
    main()
