"""One mini-batch epoch (batch 256, fresh shuffle) over X of 1M x 100 float64.

Candidates, timed in paired rounds (every candidate once per round, ratios per round, then
the median; the machine is shared, so absolute times drift):

- gdlab compiled epoch (gdlab.fastepoch through gdlab.train.run), plain SGD and Adam, and
  logistic regression (BCE) with plain SGD;
- gdlab's Python loop (gdlab.fastepoch.ENABLED = False), same problems;
- scikit-learn SGDRegressor / SGDClassifier(log_loss), max_iter=1, tol=None, shuffle=True,
  learning_rate='constant' (one epoch of per-sample SGD);
- a PyTorch loop: torch.randperm, X[idx] gathers, loss.backward(), torch.optim.SGD / Adam;
- the read-bandwidth probe: one pass over X with 2 threads (bytes(X) / bandwidth is the
  floor for anything that reads X once).

Every gdlab epoch includes drawing the permutation (``rng.permutation(n)``), as in training.

Run: ``.venv/bin/python benchmarks/minibatch_epoch.py [--quick] [--repeats R]``
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from gdlab import _bench, fastepoch
from gdlab.models import GLM
from gdlab.optim import GD, Adam
from gdlab.train import GLMProblem, TrainConfig, TrainState, run

BATCH = 256


def gdlab_epoch(problem: GLMProblem, optimizer: object, lr: float, fast: bool
                ) -> Callable[[], None]:
    """One more epoch of a persistent run per call (state carries over, as in training)."""
    state = TrainState.start(problem.model.init(0), optimizer, random_state=0)
    config = TrainConfig(optimizer=optimizer, lr=lr, batch_size=BATCH, epochs=0, tol=None)

    def epoch() -> None:
        fastepoch.ENABLED = fast
        try:
            config.epochs = state.epoch + 1
            run(problem, state, config)
        finally:
            fastepoch.ENABLED = True

    return epoch


def sklearn_epoch(X: np.ndarray, y: np.ndarray, classifier: bool) -> Callable[[], None]:
    from sklearn.linear_model import SGDClassifier, SGDRegressor

    def epoch() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter=1 warns about convergence
            if classifier:
                SGDClassifier(loss="log_loss", max_iter=1, tol=None, shuffle=True, alpha=0.0,
                              learning_rate="constant", eta0=1e-3, random_state=0).fit(X, y)
            else:
                SGDRegressor(max_iter=1, tol=None, shuffle=True, alpha=0.0,
                             learning_rate="constant", eta0=1e-4, random_state=0).fit(X, y)

    return epoch


def torch_epoch(X: np.ndarray, y: np.ndarray, adam: bool) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=1e-3) if adam else torch.optim.SGD([w, b], lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def epoch() -> None:
        perm = torch.randperm(Xt.shape[0], generator=gen)
        for idx in perm.split(BATCH):
            opt.zero_grad()
            r = Xt[idx] @ w + b - yt[idx]
            loss = (r * r).mean()
            loss.backward()
            opt.step()

    return epoch


def main() -> None:
    args = _bench.parser(__doc__.splitlines()[0]).parse_args()
    n = 200_000 if args.quick else 1_000_000
    d = 100
    repeats = args.repeats or (3 if args.quick else 7)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    z = X @ (rng.standard_normal(d) / np.sqrt(d)) + 0.3
    y = z + 0.1 * rng.standard_normal(n)
    labels = (z + 0.5 * rng.standard_normal(n) > 0).astype(np.float64)
    lin = GLMProblem(GLM(d, 1, "mse"), X, y)
    logi = GLMProblem(GLM(d, 1, "bce"), X, labels)

    print(_bench.machine_info())
    print(f"X {n} x {d} float64 ({X.nbytes / 1e6:.0f} MB), batch {BATCH}, shuffle every epoch, "
          f"{repeats} paired rounds, medians")
    cands: dict[str, Callable[[], object]] = {
        "read X once (2 threads)": _bench.read_probe(X),
        "gdlab compiled, SGD, linear": gdlab_epoch(lin, GD(), 1e-3, True),
        "gdlab compiled, Adam, linear": gdlab_epoch(lin, Adam(), 1e-3, True),
        "gdlab compiled, SGD, logistic": gdlab_epoch(logi, GD(), 1e-2, True),
        "gdlab Python loop, SGD, linear": gdlab_epoch(lin, GD(), 1e-3, False),
        "gdlab Python loop, Adam, linear": gdlab_epoch(lin, Adam(), 1e-3, False),
        "sklearn SGDRegressor": sklearn_epoch(X, y, classifier=False),
        "sklearn SGDClassifier(log_loss)": sklearn_epoch(X, labels, classifier=True),
    }
    for adam in (False, True):
        fn = torch_epoch(X, y, adam)
        if fn is not None:
            cands[f"torch loop, {'Adam' if adam else 'SGD'}, linear"] = fn
    res = _bench.paired(cands, repeats=repeats, warmup=1)

    def ref_for(name: str) -> str:
        return "sklearn SGDClassifier(log_loss)" if "logistic" in name else "sklearn SGDRegressor"

    rows = []
    for name in cands:
        ratio = "" if name.startswith("read") else f"{res.ratio(name, ref_for(name)):.3f}"
        bound = res.ratio(name, "read X once (2 threads)")
        rows.append([name, f"{res.median(name) * 1e3:.0f}", ratio, f"{bound:.1f}"])
    print(_bench.table(["epoch of", "median ms", "time / sklearn (paired)", "x read bound"],
                       rows))
    bw = X.nbytes / res.median("read X once (2 threads)")
    print(f"read bandwidth in this run: {bw / 1e9:.1f} GB/s; goal: gdlab compiled / sklearn "
          "<= 0.2")


if __name__ == "__main__":
    main()
