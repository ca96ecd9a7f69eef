"""Linear regression, full batch: cached X^T X / X^T y steps vs a pass over X per step.

    python benchmarks/gram_cache.py [--quick] [--repeats N]

`gdlab.LinearRegression(precompute=...)` on X of 1M x 100 float64 (quick: 100k x 20), plain GD,
lr 0.1, 50 full-batch epochs, tol=None. Paired rounds time the whole fit with the Gram cache
(precompute=True: one X^T X build, then O(n^2) steps) and without it (a fused pass over X per
step), and check both give the same coefficients. 'auto' picks the cache for full-batch runs
of at least max(10, n/8) epochs.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gdlab.engines import compiled  # noqa: E402
from gdlab.estimators.linear import LinearRegression  # noqa: E402
from gdlab.teach import _bench  # noqa: E402

# the compiled engine on every size: these timings are its steady state, not its start-up
compiled.COMPILE = "always"


def main() -> None:
    args = _bench.parser(__doc__.splitlines()[0]).parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    m, n = (100_000, 20) if args.quick else (1_000_000, 100)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, n))
    y = X @ rng.standard_normal(n) + rng.standard_normal(m)
    kw = dict(optimizer="gd", lr=0.1, batch_size=None, epochs=50, tol=None, alpha=0.0)
    warnings.simplefilter("ignore")
    fits = {}

    def fit(pre: bool):  # type: ignore[no-untyped-def]
        def run() -> None:
            fits[pre] = LinearRegression(precompute=pre, **kw).fit(X, y)
        return run

    res = _bench.paired({"read X once": _bench.read_probe(X), "cached X^T X": fit(True),
                         "pass over X per step": fit(False)}, repeats=repeats, warmup=1)
    agree = float(np.max(np.abs(fits[True].coef_ - fits[False].coef_)
                         / np.maximum(np.abs(fits[False].coef_), 1e-12)))
    print(_bench.machine_info())
    print(f"X {m:,} x {n} float64, plain GD, 50 full-batch epochs, {repeats} paired rounds")
    rows = [[name, res.median(name) * 1e3, res.ratio(name, "pass over X per step")]
            for name in res.names]
    print(_bench.table(["fit", "median ms", "time / uncached (paired)"], rows))
    print(f"max relative difference of the coefficients: {agree:.2e}")
    print(f"'auto' chooses the cache here: {LinearRegression(**kw)._use_gram(X)}")


if __name__ == "__main__":
    main()
