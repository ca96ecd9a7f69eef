"""Multilayer perceptron training speed: gdlab vs scikit-learn vs PyTorch, per epoch.

    python benchmarks/mlp.py [--quick] [--repeats N]

One hidden layer of 128 ReLU units, Adam (lr 1e-3), batches of 200 rows, L2 alpha 1e-4 for
gdlab and scikit-learn (PyTorch: none), float32 and float64, on digits (1,347 training rows)
and on a synthetic 10-class problem of 50 features (make_classification, 150,000 training
rows; --quick: 20,000). Each library fits the same rows for a few epochs, in paired rounds
(every candidate once per round, the same order); the table gives the median time per epoch,
the ratios to gdlab within each round (median), and the held-out accuracy after those
epochs. PyTorch runs a plain training loop (randperm, nn.Sequential, CrossEntropyLoss) with
torch.set_num_threads(2). Times include each library's per-fit setup, divided by the epochs.

Two more tables: the time each library takes to reach a held-out accuracy of 0.95 on digits
(one epoch at a time: gdlab's and scikit-learn's partial_fit, PyTorch's loop; float64), and
what the first fit in a new process costs beyond the same fit run again (imports, compiled
code), measured in a fresh interpreter.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gdlab.teach import _bench  # noqa: E402

HIDDEN, LR, BATCH, ALPHA = 128, 1e-3, 200, 1e-4


def _data(name: str, quick: bool, dtype: Any) -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits, make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name == "digits":
        X, y = load_digits(return_X_y=True)
    else:
        n = 25_000 if quick else 200_000
        X, y = make_classification(n, 50, n_informative=30, n_classes=10, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr).astype(dtype), sc.transform(Xte).astype(dtype), ytr, yte


def _gdlab(Xtr: Any, ytr: Any, Xte: Any, yte: Any, epochs: int) -> float:
    import gdlab

    est = gdlab.MLPClassifier((HIDDEN,), lr=LR, batch_size=BATCH, alpha=ALPHA, epochs=epochs,
                              tol=None, random_state=0).fit(Xtr, ytr)
    return float(est.score(Xte, yte))


def _sklearn(Xtr: Any, ytr: Any, Xte: Any, yte: Any, epochs: int) -> float:
    from sklearn.neural_network import MLPClassifier

    est = MLPClassifier((HIDDEN,), learning_rate_init=LR, batch_size=BATCH, alpha=ALPHA,
                        max_iter=epochs, tol=0.0, n_iter_no_change=10**9,
                        random_state=0).fit(Xtr, ytr)
    return float(est.score(Xte, yte))


def _torch(Xtr: Any, ytr: Any, Xte: Any, yte: Any, epochs: int) -> float:
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    dtype = torch.float32 if Xtr.dtype == np.float32 else torch.float64
    X, y = torch.from_numpy(Xtr), torch.from_numpy(np.asarray(ytr, dtype=np.int64))
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], HIDDEN, dtype=dtype), torch.nn.ReLU(),
                              torch.nn.Linear(HIDDEN, int(y.max()) + 1, dtype=dtype))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = X.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss_fn(net(X[idx]), y[idx]).backward()
            opt.step()
    with torch.no_grad():
        pred = net(torch.from_numpy(Xte)).argmax(dim=1).numpy()
    return float(np.mean(pred == yte))


def _time_to_accuracy(target: float, max_epochs: int) -> list[list[str]]:
    """Seconds and epochs until the held-out accuracy on digits reaches ``target``."""
    import torch
    from sklearn.neural_network import MLPClassifier

    import gdlab

    Xtr, Xte, ytr, yte = _data("digits", True, np.float64)
    classes = np.unique(ytr)
    rows = []
    ours = gdlab.MLPClassifier((HIDDEN,), lr=LR, batch_size=BATCH, alpha=ALPHA, random_state=0)
    ref = MLPClassifier((HIDDEN,), learning_rate_init=LR, batch_size=BATCH, alpha=ALPHA,
                        random_state=0)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    X, y = torch.from_numpy(Xtr), torch.from_numpy(np.asarray(ytr, dtype=np.int64))
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], HIDDEN, dtype=torch.float64),
                              torch.nn.ReLU(),
                              torch.nn.Linear(HIDDEN, 10, dtype=torch.float64))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def torch_epoch() -> float:
        perm = torch.randperm(X.shape[0])
        for i in range(0, X.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss_fn(net(X[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            return float(np.mean(net(torch.from_numpy(Xte)).argmax(dim=1).numpy() == yte))

    steps = {
        "gdlab": lambda: ours.partial_fit(Xtr, ytr, classes=classes).score(Xte, yte),
        "scikit-learn": lambda: ref.partial_fit(Xtr, ytr, classes=classes).score(Xte, yte),
        "PyTorch": torch_epoch,
    }
    for name, step in steps.items():
        _bench.pause()
        t0, acc, epoch = time.perf_counter(), 0.0, 0
        while acc < target and epoch < max_epochs:
            acc = float(step())
            epoch += 1
        seconds = time.perf_counter() - t0
        reached = "yes" if acc >= target else f"no ({acc:.4f})"
        rows.append([name, f"{1e3 * seconds:.0f}", str(epoch), reached])
    return rows


FIRST_FIT = """
import time, numpy as np
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
t0 = time.perf_counter()
import gdlab
gdlab.MLPClassifier((128,), epochs=5, tol=None, random_state=0).fit(X, y)
t1 = time.perf_counter()
gdlab.MLPClassifier((128,), epochs=5, tol=None, random_state=0).fit(X, y)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _first_fit() -> tuple[float, float]:
    """(first fit with gdlab's imports, the same fit again) in a fresh interpreter."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", FIRST_FIT], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1]).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    args = _bench.parser(__doc__.splitlines()[0]).parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    warnings.simplefilter("ignore")
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    candidates = {"gdlab": _gdlab, "scikit-learn": _sklearn}
    if have_torch:
        candidates["PyTorch"] = _torch
    print(_bench.machine_info())
    print(f"load average {os.getloadavg()[0]:.1f} (a loaded machine slows every column)")
    rows = []
    for name in ("digits", "synthetic"):
        epochs = 10 if name == "digits" else (2 if args.quick else 5)
        for dtype in (np.float32, np.float64):
            Xtr, Xte, ytr, yte = _data(name, args.quick, dtype)
            for fn in candidates.values():  # warm-up: imports, compilation, first-call costs
                fn(Xtr[:400], ytr[:400], Xte, yte, 1)
            times: dict[str, list[float]] = {k: [] for k in candidates}
            acc: dict[str, float] = {}
            for _ in range(repeats):
                for k, fn in candidates.items():
                    _bench.pause()
                    t0 = time.perf_counter()
                    acc[k] = fn(Xtr, ytr, Xte, yte, epochs)
                    times[k].append((time.perf_counter() - t0) / epochs)
            base = times["gdlab"]
            for k in candidates:
                ratio = float(np.median([t / g for t, g in zip(times[k], base, strict=True)]))
                rows.append([f"{name} ({Xtr.shape[0]} x {Xtr.shape[1]})",
                             np.dtype(dtype).name, k, f"{1e3 * np.median(times[k]):.1f}",
                             f"{ratio:.2f}", f"{acc[k]:.4f}", str(epochs)])
    print(f"1 hidden layer of {HIDDEN} ReLU, Adam lr {LR}, batch {BATCH}; {repeats} paired "
          "rounds, medians; ratio = the library's time / gdlab's in the same round")
    print(_bench.table(["data", "dtype", "library", "ms / epoch", "x gdlab's time",
                        "held-out accuracy", "epochs"], rows))
    if have_torch:
        print("\ndigits, float64: time to a held-out accuracy of 0.95, one epoch at a time")
        print(_bench.table(["library", "ms", "epochs", "reached"],
                           _time_to_accuracy(0.95, 60)))
    first, again = _first_fit()
    print(f"\nfirst fit in a new process (import gdlab + 5 epochs on digits): {first:.3f} s; "
          f"the same fit again: {again:.3f} s; paid once: {first - again:.3f} s")


if __name__ == "__main__":
    main()
