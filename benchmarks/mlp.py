"""Multilayer perceptron training speed: gdlab vs scikit-learn vs PyTorch, per epoch.

    python benchmarks/mlp.py [--quick] [--repeats N]

One hidden layer of 128 ReLU units, Adam (lr 1e-3), batches of 200 rows, L2 alpha 1e-4 for
gdlab and scikit-learn (PyTorch: none), float32 and float64, on digits (1,347 training rows)
and on a synthetic 10-class problem of 50 features (make_classification, 150,000 training
rows; --quick: 18,750). PyTorch runs a plain training loop (randperm, nn.Sequential,
CrossEntropyLoss) with torch.set_num_threads(2).

Every measurement runs in its own process (``--worker``), one at a time, in paired rounds
(each library once per round, the same order): libraries in one process slow each other
down (PyTorch's and OpenBLAS's idle threads spin on the 2 cores). A worker loads the data,
fits on a slice (imports, first calls; gdlab's compiled epoch loaded or compiled and run on
one and two threads), then times one fit of E epochs (E = 50 on digits, 5 on the synthetic
set) and samples its resident memory every 2 ms. The tables give the median time per
epoch, each library's time over gdlab's in the same round (median), the held-out accuracy
after those epochs and the peak memory the fit added to the process.

Two more tables: the time each library takes to reach a held-out accuracy (0.95 on digits,
0.80 on the synthetic set; one epoch at a time, float64, evaluation included), and what the
first fit in a new process costs beyond the same fit run again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gdlab.teach import _bench  # noqa: E402

HIDDEN, LR, BATCH, ALPHA = 128, 1e-3, 200, 1e-4
LIBRARIES = ("gdlab", "scikit-learn", "PyTorch")
TARGETS = {"digits": 0.95, "synthetic": 0.80}


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


class _Trainer:
    """One library's network, trained one epoch (or several) at a time."""

    def __init__(self, library: str, n_features: int, classes: Any, dtype: Any) -> None:
        self.library, self.classes = library, classes
        if library == "gdlab":
            import gdlab

            self.est = gdlab.MLPClassifier((HIDDEN,), lr=LR, batch_size=BATCH, alpha=ALPHA,
                                           tol=None, random_state=0)
        elif library == "scikit-learn":
            from sklearn.neural_network import MLPClassifier

            self.est = MLPClassifier((HIDDEN,), learning_rate_init=LR, batch_size=BATCH,
                                     alpha=ALPHA, tol=0.0, n_iter_no_change=10**9,
                                     random_state=0)
        else:
            import torch

            torch.set_num_threads(2)
            torch.manual_seed(0)
            tdt = torch.float32 if dtype == np.float32 else torch.float64
            self.net = torch.nn.Sequential(torch.nn.Linear(n_features, HIDDEN, dtype=tdt),
                                           torch.nn.ReLU(),
                                           torch.nn.Linear(HIDDEN, len(classes), dtype=tdt))
            self.opt = torch.optim.Adam(self.net.parameters(), lr=LR)
            self.loss_fn = torch.nn.CrossEntropyLoss()

    def fit(self, X: Any, y: Any, epochs: int) -> None:
        """Train ``epochs`` more epochs."""
        if self.library == "PyTorch":
            import torch

            Xt = torch.from_numpy(X)
            yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
            for _ in range(epochs):
                perm = torch.randperm(Xt.shape[0])
                for i in range(0, Xt.shape[0], BATCH):
                    idx = perm[i:i + BATCH]
                    self.opt.zero_grad()
                    self.loss_fn(self.net(Xt[idx]), yt[idx]).backward()
                    self.opt.step()
        elif self.library == "gdlab":
            if epochs == 1:
                self.est.partial_fit(X, y, classes=self.classes)
            else:
                self.est.set_params(epochs=epochs).fit(X, y)
        elif epochs == 1:
            self.est.partial_fit(X, y, classes=self.classes)
        else:
            self.est.set_params(max_iter=epochs).fit(X, y)

    def score(self, X: Any, y: Any) -> float:
        if self.library == "PyTorch":
            import torch

            with torch.no_grad():
                pred = self.net(torch.from_numpy(X)).argmax(dim=1).numpy()
            return float(np.mean(self.classes[pred] == y))
        return float(self.est.score(X, y))


def _rss() -> int:
    """This process's resident memory, bytes (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_during(fn: Any) -> tuple[float, int]:
    """(seconds, peak resident memory above the start) of ``fn()``, sampled every 2 ms."""
    start, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    done.set()
    thread.join()
    return seconds, max(peak[0], _rss()) - start


def _warm_up(lib: str, X: Any, y: Any, classes: Any, dtype: Any) -> None:
    """Imports, first calls, gdlab's compiled epoch and shuffle loaded (or compiled) and run
    on one and on two threads (the BLAS buffers of each thread allocated) before the timed
    fit: two epochs on up to 20,000 rows (the shuffle is compiled from 16,385)."""
    X, y = X[:20_000], y[:20_000]
    if lib != "gdlab":
        _Trainer(lib, X.shape[1], classes, dtype).fit(X, y, 2)
        return
    import gdlab.engines.compiled as compiled
    from gdlab.engines import mlp_epoch

    compiled.COMPILE = "always"
    for threads in (2, 1):
        mlp_epoch.THREADS = threads
        _Trainer(lib, X.shape[1], classes, dtype).fit(X, y, 2)
    compiled.COMPILE, mlp_epoch.THREADS = "auto", "auto"


def _worker(task: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement (see the module docstring) and return its numbers."""
    warnings.simplefilter("ignore")
    dtype = np.float32 if task["dtype"] == "float32" else np.float64
    Xtr, Xte, ytr, yte = _data(task["data"], task["quick"], dtype)
    classes = np.unique(ytr)
    lib = task["library"]
    if task["kind"] == "epochs":
        _warm_up(lib, Xtr, ytr, classes, dtype)
        trainer = _Trainer(lib, Xtr.shape[1], classes, dtype)
        seconds, peak = _peak_during(lambda: trainer.fit(Xtr, ytr, task["epochs"]))
        return {"seconds": seconds / task["epochs"], "accuracy": trainer.score(Xte, yte),
                "peak_mb": peak / 2**20}
    # time to accuracy: one epoch at a time, evaluation included
    _warm_up(lib, Xtr, ytr, classes, dtype)
    trainer = _Trainer(lib, Xtr.shape[1], classes, dtype)
    t0, acc, epoch = time.perf_counter(), 0.0, 0
    while acc < task["target"] and epoch < task["max_epochs"]:
        trainer.fit(Xtr, ytr, 1)
        acc = trainer.score(Xte, yte)
        epoch += 1
    return {"seconds": time.perf_counter() - t0, "epochs": epoch, "accuracy": acc}


def _run(task: dict[str, Any]) -> dict[str, Any]:
    """``_worker(task)`` in a new interpreter."""
    _bench.pause()
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


FIRST_FIT = """
import time, numpy as np
from sklearn.datasets import load_digits, make_classification
X, y = {data}
t0 = time.perf_counter()
import gdlab
make = lambda: gdlab.MLPClassifier((128,), epochs={epochs}, batch_size=200, tol=None,
                                   random_state=0)
make().fit(X, y)
t1 = time.perf_counter()
make().fit(X, y)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _first_fit(data: str, epochs: int) -> tuple[float, float]:
    """(import gdlab + first fit, the same fit again) in a fresh interpreter."""
    code = FIRST_FIT.format(data=data, epochs=epochs)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    return float(out[0]), float(out[1])


def _libraries() -> list[str]:
    try:
        import torch  # noqa: F401
    except ImportError:
        return list(LIBRARIES[:2])
    return list(LIBRARIES)


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--worker", default=None, help=argparse_suppress())
    args = p.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return
    repeats = args.repeats or (2 if args.quick else 3)
    libs = _libraries()
    print(_bench.machine_info())
    print(f"load average {os.getloadavg()[0]:.1f} (a loaded machine slows every column)")
    rows = []
    for data in ("digits", "synthetic"):
        epochs = 50 if data == "digits" else (2 if args.quick else 5)
        for dtype in ("float32", "float64"):
            res: dict[str, list[dict[str, Any]]] = {k: [] for k in libs}
            for _ in range(repeats):
                for lib in libs:
                    res[lib].append(_run({"kind": "epochs", "library": lib, "data": data,
                                          "dtype": dtype, "epochs": epochs,
                                          "quick": args.quick}))
            base = [r["seconds"] for r in res["gdlab"]]
            for lib in libs:
                secs = [r["seconds"] for r in res[lib]]
                ratio = float(np.median([t / g for t, g in zip(secs, base, strict=True)]))
                rows.append([data, dtype, lib, f"{1e3 * np.median(secs):.2f}", f"{ratio:.2f}",
                             f"{np.mean([r['accuracy'] for r in res[lib]]):.4f}",
                             f"{np.median([r['peak_mb'] for r in res[lib]]):.1f}"])
    print(f"1 hidden layer of {HIDDEN} ReLU, Adam lr {LR}, batch {BATCH}; {repeats} paired "
          "rounds, medians; ratio = the library's time / gdlab's in the same round")
    print(_bench.table(["data", "dtype", "library", "ms / epoch", "x gdlab's time",
                        "held-out accuracy", "peak MB added"], rows))
    print("\nfloat64: time to a held-out accuracy, one epoch at a time (evaluation included)")
    rows = []
    for data, target in TARGETS.items():
        for lib in libs:
            r = _run({"kind": "accuracy", "library": lib, "data": data, "dtype": "float64",
                      "target": target, "max_epochs": 60, "quick": args.quick})
            reached = "yes" if r["accuracy"] >= target else f"no ({r['accuracy']:.4f})"
            rows.append([data, f"{target:.2f}", lib, f"{1e3 * r['seconds']:.0f}",
                         str(r["epochs"]), reached])
    print(_bench.table(["data", "target", "library", "ms", "epochs", "reached"], rows))
    n = 25_000 if args.quick else 200_000
    for label, data, epochs in (
            ("digits, 5 epochs", "load_digits(return_X_y=True)", 5),
            (f"synthetic {n} x 50, 2 epochs", f"make_classification({n}, 50, n_informative=30, "
                                             "n_classes=10, random_state=0)", 2)):
        first, again = _first_fit(data, epochs)
        print(f"\nfirst fit in a new process ({label}; import gdlab + fit): {first:.3f} s; "
              f"the same fit again: {again:.3f} s; paid once: {first - again:.3f} s")


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
