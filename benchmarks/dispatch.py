"""Where the fused kernel starts to beat the plain formula: sets kernels.FUSED_MIN_SIZE.

    python benchmarks/dispatch.py [--quick] [--repeats N]

For X of m * n entries (float64, C order, n = 10, 32 and 100) times `linear_loss_grad` (fused)
and `plain_linear_loss_grad` for MSE and BCE (and the softmax pair, K = 10) in paired rounds,
and prints the ratio plain / fused: above 1 the fused kernel wins.

Each timing is a run of back-to-back calls of one candidate, and the candidates are 0.3 s
apart: the plain formula runs on OpenBLAS's threads and the fused one on numba's OpenMP
threads, and on two cores the pool that ran last keeps spinning for a while (OpenBLAS's
threads ~0.1 s), which would slow whichever candidate came next.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gdlab.engines import kernels  # noqa: E402
from gdlab.teach import _bench  # noqa: E402

HEADERS = ["m*n", "n", "head", "plain us", "fused us", "plain/fused"]
PAUSE_S = 0.3  # between candidates: longer than OpenBLAS's threads spin after a call


def main() -> None:
    args = _bench.parser(__doc__.splitlines()[0]).parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    sizes = [10_000, 100_000, 1_000_000] if args.quick else [
        1_000, 10_000, 100_000, 300_000, 1_000_000, 3_000_000]
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        for n in (10, 32, 100):  # 32: the widest X the narrow kernels take
            m = max(1, size // n)
            X = rng.standard_normal((m, n))
            y = rng.standard_normal(m)
            labels01 = (y > 0) * 1.0
            w = rng.standard_normal(n)
            labels = rng.integers(0, 10, m)
            W = rng.standard_normal((n, 10))
            b = np.zeros(10)
            inner = max(1, 2_000_000 // size)  # enough calls per timing to beat timer noise
            for head, fused, plain in (
                ("mse", partial(kernels.linear_loss_grad, X, y, w, 0.0),
                 partial(kernels.plain_linear_loss_grad, X, y, w, 0.0)),
                ("bce", partial(kernels.linear_loss_grad, X, labels01, w, 0.0, loss="bce"),
                 partial(kernels.plain_linear_loss_grad, X, labels01, w, 0.0, loss="bce")),
                ("cce", partial(kernels.softmax_loss_grad, X, labels, W, b),
                 partial(kernels.plain_softmax_loss_grad, X, labels, W, b)),
            ):
                res = _bench.paired(
                    {"plain": _bench.repeat(plain, inner), "fused": _bench.repeat(fused, inner)},
                    repeats=repeats, pause_s=PAUSE_S)
                rows.append([size, n, head, res.median("plain") / inner * 1e6,
                             res.median("fused") / inner * 1e6, 1 / res.ratio("fused", "plain")])
                print(_bench.table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(_bench.machine_info())
    print(f"paired rounds: {repeats} (medians); FUSED_MIN_SIZE = {kernels.FUSED_MIN_SIZE}, "
          f"FUSED_MIN_SIZE_NARROW = {kernels.FUSED_MIN_SIZE_NARROW}, "
          f"FUSED_MIN_SIZE_SOFTMAX = {kernels.FUSED_MIN_SIZE_SOFTMAX}")
    print(_bench.table(HEADERS, rows))


if __name__ == "__main__":
    main()
