"""One mini-batch epoch (batch 256, fresh shuffle) over X of 1M x 100 float64.

Candidates, timed in paired rounds (every candidate once per round, ratios per round, then
the median; the machine is shared, so absolute times drift):

- gdlab compiled epoch (gdlab.engines.fastepoch through gdlab.core.loop.run), plain SGD and Adam,
and
  logistic regression (BCE) with plain SGD, on both compiled paths: "staged" (the default
  for X this large: two threads take turns gathering a super-chunk's rows into their own
  contiguous buffer and stepping it) and "direct" (``gdlab.engines.fastepoch.STAGED = "never"``: one
  thread reads the rows through the permutation);
- probes of what limits it: drawing the permutation alone, and gathering the epoch's rows
  into the staging buffers with no arithmetic, with 1 and with 2 threads;
- gdlab's Python loop (gdlab.engines.fastepoch.ENABLED = False), same problems;
- scikit-learn SGDRegressor / SGDClassifier(log_loss), max_iter=1, tol=None, shuffle=True,
  learning_rate='constant' (one epoch of per-sample SGD);
- a PyTorch loop: torch.randperm, X[idx] gathers, loss.backward(), torch.optim.SGD / Adam;
- the read-bandwidth probe: one pass over X with 2 threads (bytes(X) / bandwidth is the
  floor for anything that reads X once).

Every gdlab epoch includes drawing the permutation (``gdlab.core.shuffle.permutation``), as in
training.

Run: ``.venv/bin/python benchmarks/minibatch_epoch.py [--quick] [--repeats R] [--no-slow]
[--quiet CORES]``
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable

import numpy as np

from gdlab.core.loop import ModelProblem, TrainConfig, TrainState, run
from gdlab.core.models import GLM
from gdlab.core.optim import GD, Adam
from gdlab.core.shuffle import permutation
from gdlab.engines import compiled, fastepoch
from gdlab.teach import _bench

# the compiled engine on every size: these timings are its steady state, not its start-up
compiled.COMPILE = "always"

BATCH = 256


def gdlab_epoch(problem: ModelProblem, optimizer: object, lr: float, fast: bool,
                staged: str = "auto") -> Callable[[], None]:
    """One more epoch of a persistent run per call (state carries over, as in training)."""
    state = TrainState.start(problem.model.init(0), optimizer, random_state=0)
    config = TrainConfig(optimizer=optimizer, lr=lr, batch_size=BATCH, epochs=0, tol=None)

    def epoch() -> None:
        fastepoch.ENABLED = fast
        fastepoch.STAGED = staged
        try:
            config.epochs = state.epoch + 1
            run(problem, state, config)
        finally:
            fastepoch.ENABLED = True
            fastepoch.STAGED = "auto"

    return epoch


def permutation_probe(n: int) -> Callable[[], None]:
    """Drawing one epoch's permutation, as the training loop does (gdlab.core.shuffle)."""
    rng = np.random.default_rng(0)

    def draw() -> None:
        permutation(rng, n)

    return draw


if fastepoch.HAVE_NUMBA:
    from numba import njit

    @njit(nogil=True, cache=True)
    def _gather_only(X, order, rows_c, B, sync, ahead):  # type: ignore[no-untyped-def]
        """One thread of a staged epoch without the steps: claim super-chunks, stage rows."""
        e = np.empty(0)
        el = np.empty(0, dtype=np.int64)
        n = X.shape[0]
        n_chunks = (n + rows_c - 1) // rows_c
        while True:
            c = fastepoch._fetch_add(sync, 0, 1)
            if c >= n_chunks:
                break
            lo = c * rows_c
            fastepoch._stage(X, e, el, e, order, lo, 0, min(rows_c, n - lo), B, e, el, e,
                             ahead)


def gather_probe(X: np.ndarray, threads: int) -> Callable[[], None] | None:
    """Gather every row of a shuffled epoch into the staging buffers, no arithmetic.

    The same buffers, super-chunks and claims as a staged epoch (gdlab.engines.fastepoch), on one
    thread or two: how fast random rows can be read.
    """
    if not fastepoch.HAVE_NUMBA:
        return None
    n = X.shape[0]
    problem = ModelProblem.from_arrays(GLM(X.shape[1], 1, "mse"), X, np.zeros(n))
    fe = fastepoch.FastEpoch(problem, GD(),
                             TrainConfig(optimizer=GD(), batch_size=BATCH))
    B, _, _, _ = fe._stage_buffers()
    rows_c = fe.spc * BATCH
    order = np.random.default_rng(1).permutation(n)

    def gather() -> None:
        sync = np.zeros(1, dtype=np.int64)
        helper = None
        if threads >= 2:
            helper = fastepoch._helper_pool().submit(
                _gather_only, X, order, rows_c, B[0], sync, fastepoch.STAGE_PREFETCH_ROWS)
        _gather_only(X, order, rows_c, B[1], sync, fastepoch.STAGE_PREFETCH_ROWS)
        if helper is not None:
            helper.result()

    return gather


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


def _others_busy_s() -> tuple[float, float] | None:
    """(CPU seconds used by the whole machine, by this process) so far; None off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            me = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4]) / hz, (int(me[11]) + int(me[12])) / hz


def quiet_paired(cands: dict[str, Callable[[], object]], repeats: int, max_others: float,
                 timeout_s: float) -> tuple[_bench.Paired, list[float]]:
    """Paired rounds kept only when other processes used < max_others cores meanwhile.

    On a machine shared with other benchmarks a two-thread epoch only gets its second core
    when the others pause: this waits for such moments (1 s with the rest of the machine
    idle), times one round, and keeps it if the rest stayed idle. Gives up after timeout_s
    with the rounds it has.
    """
    for fn in cands.values():
        fn()
    res = _bench.Paired(list(cands), {k: [] for k in cands})
    others: list[float] = []
    deadline = time.monotonic() + timeout_s
    while len(others) < repeats and time.monotonic() < deadline:
        a = _others_busy_s()
        time.sleep(1.0)
        b = _others_busy_s()
        if a is None or b is None:
            raise SystemExit("--quiet needs /proc (Linux)")
        if (b[0] - a[0]) - (b[1] - a[1]) > max_others:
            continue
        a, t0 = _others_busy_s(), time.perf_counter()
        times = {}
        for name, fn in cands.items():
            _bench.pause(0.05)
            times[name] = _bench.time_once(fn)
        b, wall = _others_busy_s(), time.perf_counter() - t0
        assert a is not None and b is not None
        load = ((b[0] - a[0]) - (b[1] - a[1])) / wall
        if load <= max_others:
            others.append(load)
            for name, t in times.items():
                res.times[name].append(t)
    if not others:
        raise SystemExit(f"no quiet round within {timeout_s:.0f} s")
    return res, others


def main() -> None:
    cli = _bench.parser(__doc__.splitlines()[0])
    cli.add_argument("--no-slow", action="store_true",
                     help="skip the Python-loop and torch candidates (seconds per round)")
    cli.add_argument("--quiet", type=float, default=None, metavar="CORES",
                     help="keep only rounds during which other processes used < CORES cores "
                          "(waits for such moments; Linux)")
    cli.add_argument("--timeout", type=float, default=1800.0,
                     help="with --quiet: give up waiting after this many seconds")
    args = cli.parse_args()
    n = 200_000 if args.quick else 1_000_000
    d = 100
    repeats = args.repeats or (3 if args.quick else 7)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    z = X @ (rng.standard_normal(d) / np.sqrt(d)) + 0.3
    y = z + 0.1 * rng.standard_normal(n)
    labels = (z + 0.5 * rng.standard_normal(n) > 0).astype(np.float64)
    lin = ModelProblem.from_arrays(GLM(d, 1, "mse"), X, y)
    logi = ModelProblem.from_arrays(GLM(d, 1, "bce"), X, labels)

    print(_bench.machine_info())
    print(f"X {n} x {d} float64 ({X.nbytes / 1e6:.0f} MB), batch {BATCH}, shuffle every epoch, "
          f"{repeats} paired rounds, medians")
    cands: dict[str, Callable[[], object]] = {
        "read X once (2 threads)": _bench.read_probe(X),
        "draw the permutation": permutation_probe(n),
    }
    for threads in (1, 2):
        probe = gather_probe(X, threads)
        if probe is not None:
            cands[f"gather rows only, {threads} thread{'s' * (threads > 1)}"] = probe
    cands.update({
        "gdlab staged, SGD, linear": gdlab_epoch(lin, GD(), 1e-3, True, "always"),
        "gdlab direct, SGD, linear": gdlab_epoch(lin, GD(), 1e-3, True, "never"),
        "gdlab staged, Adam, linear": gdlab_epoch(lin, Adam(), 1e-3, True, "always"),
        "gdlab direct, Adam, linear": gdlab_epoch(lin, Adam(), 1e-3, True, "never"),
        "gdlab staged, SGD, logistic": gdlab_epoch(logi, GD(), 1e-2, True, "always"),
        "gdlab direct, SGD, logistic": gdlab_epoch(logi, GD(), 1e-2, True, "never"),
        "sklearn SGDRegressor": sklearn_epoch(X, y, classifier=False),
        "sklearn SGDClassifier(log_loss)": sklearn_epoch(X, labels, classifier=True),
    })
    if not args.no_slow:
        cands["gdlab Python loop, SGD, linear"] = gdlab_epoch(lin, GD(), 1e-3, False)
        cands["gdlab Python loop, Adam, linear"] = gdlab_epoch(lin, Adam(), 1e-3, False)
        for adam in (False, True):
            fn = torch_epoch(X, y, adam)
            if fn is not None:
                cands[f"torch loop, {'Adam' if adam else 'SGD'}, linear"] = fn
    if args.quiet is None:
        res = _bench.paired(cands, repeats=repeats, warmup=1)
    else:
        res, others = quiet_paired(cands, repeats, args.quiet, args.timeout)
        print(f"{len(others)} quiet rounds; other processes used "
              f"{', '.join(f'{x:.2f}' for x in others)} cores during them")

    def ref_for(name: str) -> str:
        return "sklearn SGDClassifier(log_loss)" if "logistic" in name else "sklearn SGDRegressor"

    rows = []
    for name in cands:
        ratio = "" if name.startswith("read") else f"{res.ratio(name, ref_for(name)):.3f}"
        if name.startswith(("read", "draw", "gather")):
            ratio = f"{res.ratio(name, 'sklearn SGDRegressor'):.3f}"
        bound = res.ratio(name, "read X once (2 threads)")
        rows.append([name, f"{res.median(name) * 1e3:.0f}", ratio, f"{bound:.1f}"])
    print(_bench.table(["epoch of", "median ms", "time / sklearn (paired)", "x read bound"],
                       rows))
    bw = X.nbytes / res.median("read X once (2 threads)")
    print(f"read bandwidth in this run: {bw / 1e9:.1f} GB/s; goal: gdlab compiled / sklearn "
          "<= 0.2")
    for name in ("SGD, linear", "Adam, linear", "SGD, logistic"):
        print(f"staged / direct, {name}: "
              f"{res.ratio(f'gdlab staged, {name}', f'gdlab direct, {name}'):.3f}")
    if "gather rows only, 2 threads" in cands:
        print("gather 2 threads / 1 thread: "
              f"{res.ratio('gather rows only, 2 threads', 'gather rows only, 1 thread'):.3f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores: > ~1 means shared)")


if __name__ == "__main__":
    main()
