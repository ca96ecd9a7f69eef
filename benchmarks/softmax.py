"""Full-batch softmax regression gradient: gdlab fused vs NumPy plain vs PyTorch CPU.

    python benchmarks/softmax.py [--quick] [--repeats N]

X 200,000 x 100 (K = 10 classes), float64 and float32, C and Fortran order. Paired rounds
time a 2-thread read of X (the bandwidth probe), gdlab's `softmax_loss_grad`, its blocked
NumPy path, the bare NumPy formula ``X.T @ (softmax(X @ W + b) - Y)`` and the same in torch
on ``torch.from_numpy(X)`` (no copy, 2 threads). Goal: >= 1.5x faster than torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.special import softmax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gdlab.engines.kernels import blocked_softmax_loss_grad, softmax_loss_grad  # noqa: E402
from gdlab.teach import _bench  # noqa: E402

HEADERS = ["X", "K", "order", "dtype", "bound ms", "gdlab ms", "gdlab/bound", "blocked/bound",
           "numpy/bound", "torch/bound", "torch/gdlab"]


def main() -> None:
    args = _bench.parser(__doc__.splitlines()[0]).parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    m, n, K = (20_000, 100, 10) if args.quick else (200_000, 100, 10)
    rng = np.random.default_rng(0)
    rows = []
    for order in ("C", "F"):
        for dtype in (np.float64, np.float32):
            X = np.asarray(rng.standard_normal((m, n)).astype(dtype), order=order)
            W = (rng.standard_normal((n, K)) * 0.1).astype(dtype)
            b = np.zeros(K, dtype=dtype)
            y = rng.integers(0, K, m)
            Y = np.eye(K, dtype=dtype)[y]
            cand = {
                "probe": _bench.read_probe(X),
                "gdlab": lambda X=X, y=y, W=W, b=b: softmax_loss_grad(X, y, W, b),
                "blocked": lambda X=X, y=y, W=W, b=b: blocked_softmax_loss_grad(X, y, W, b),
                "numpy": lambda X=X, Y=Y, W=W, b=b: X.T @ (softmax(X @ W + b, axis=1) - Y),
            }
            if torch is not None:
                Xt, Yt, Wt, bt = (torch.from_numpy(a) for a in (X, Y, W, b))
                cand["torch"] = lambda Xt=Xt, Yt=Yt, Wt=Wt, bt=bt: Xt.T @ (
                    torch.softmax(Xt @ Wt + bt, dim=1) - Yt)
            res = _bench.paired(cand, repeats=repeats)
            row = [f"{m:,}x{n}", K, order, np.dtype(dtype).name, res.median("probe") * 1e3,
                   res.median("gdlab") * 1e3, res.ratio("gdlab", "probe"),
                   res.ratio("blocked", "probe"), res.ratio("numpy", "probe")]
            if torch is not None:
                row += [res.ratio("torch", "probe"), res.ratio("torch", "gdlab")]
            rows.append(row)
            print(_bench.table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(_bench.machine_info())
    print(f"paired rounds: {repeats} (medians)")
    print(_bench.table(HEADERS, rows))


if __name__ == "__main__":
    main()
