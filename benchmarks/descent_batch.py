"""Many starts as one batch: 10,000 starts x 1,000 Adam steps on peaks vs one start at a time.

    python benchmarks/descent_batch.py [--quick] [--repeats N]

The batch is `gdlab.functions.descent.minimize_many` (one (10000, 2) array through value_and_grad
and
Adam.update per step). The loop is `gdlab.functions.descent.minimize` called once per start; looping
over all 10,000 would take minutes, so a sample of the first 100 starts is timed and the
time is extrapolated linearly (x n / 100), which the table says. tol=0 and an unbounded
domain make every start do all 1,000 steps in both, so both do exactly the same arithmetic;
the end points of the sampled starts are checked to be bit-for-bit equal.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gdlab.functions.descent import minimize, minimize_many  # noqa: E402
from gdlab.functions.surfaces import get_surface  # noqa: E402
from gdlab.teach import _bench  # noqa: E402


def main() -> None:
    args = _bench.parser(__doc__.splitlines()[0]).parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    n, steps, n_loop = (2000, 200, 20) if args.quick else (10_000, 1000, 100)
    rng = np.random.default_rng(0)
    S = rng.uniform(-3.0, 3.0, (n, 2))
    f = get_surface("peaks")
    _ = f.function  # derive and lambdify once, outside the timings
    kw = {"optimizer": "adam", "lr": 0.05, "steps": steps, "tol": 0.0, "domain": "unbounded"}

    out: dict[str, object] = {}

    def batch() -> None:
        out["batch"] = minimize_many(f, S, **kw)

    def loop() -> None:
        out["loop"] = [minimize(f, s, record=False, **kw) for s in S[:n_loop]]

    t_batch, t_loop = [], []
    for _ in range(repeats):  # paired rounds: each candidate once per round
        _bench.pause()
        t_batch.append(_bench.time_once(batch))
        _bench.pause()
        t_loop.append(_bench.time_once(loop))
    res = out["batch"]
    loop_res = out["loop"]
    equal = all(np.array_equal(r.x, res.x[i]) for i, r in enumerate(loop_res))  # type: ignore[attr-defined,arg-type]
    tb = float(np.median(t_batch))
    tl = float(np.median(t_loop)) * n / n_loop
    ratios = [b and (lp * n / n_loop) / b for b, lp in zip(t_batch, t_loop, strict=True)]
    print(_bench.machine_info())
    print(f"peaks, {n} starts uniform on [-3,3]^2 (seed 0), Adam lr=0.05, {steps} steps each, "
          f"tol=0 (no early stop), {repeats} paired rounds, medians")
    print(_bench.table(
        ["way", "starts timed", "seconds (for all starts)", "start-steps / s"],
        [["batch: minimize_many, one (n, 2) array", n, f"{tb:.2f}", f"{n * steps / tb:.3g}"],
         [f"loop: minimize per start (first {n_loop}, x{n // n_loop} extrapolated)", n_loop,
          f"{tl:.1f}", f"{n * steps / tl:.3g}"]]))
    print(f"batch speed-up: {float(np.median(ratios)):.0f}x (median of per-round ratios)")
    print(f"per start-step: batch {1e9 * tb / (n * steps):.0f} ns, loop "
          f"{1e6 * tl / (n * steps):.1f} us")
    print(f"sampled end points equal bit for bit: {equal}")
    shares = res.shares()  # type: ignore[attr-defined]
    print("statuses (batch): " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items()))


if __name__ == "__main__":
    main()
