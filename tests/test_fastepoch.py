"""The compiled mini-batch epoch (gdlab.engines.fastepoch) against the Python loop it replaces.

Every test runs the same problem twice, once with ``gdlab.engines.fastepoch.ENABLED`` False (the
Python loop, the reference) and once with it True, and compares everything the loop leaves
in TrainState. A spy on FastEpoch.run_epoch asserts which path actually ran.

The compiled epoch has two paths: rows read through the permutation ("direct") and rows
staged super-chunk by super-chunk into contiguous buffers, by two threads taking turns
("staged-2") or by the calling thread alone ("staged-1"). Tests parametrized by ``path`` force
one of them; the staged ones use super-chunks of 3 batches, so the 13 batches of an epoch
make 4 full super-chunks and a partial fifth (one batch of 11 rows).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from gdlab.core.loop import DivergenceError, ModelProblem, TrainConfig, TrainState, run
from gdlab.core.models import GLM
from gdlab.core.optim import GD, SGD, Adagrad, Adam, AdamW, Momentum, Nesterov
from gdlab.engines import fastepoch

pytestmark = pytest.mark.numba  # the compiled engine's own tests

N, D, BS = 203, 5, 16  # 13 batches, the last one partial (11 rows)
PATHS = ["direct", "staged-1", "staged-2"]
STAGE_BATCHES = 3  # batches per super-chunk in staged tests


def _set_path(monkeypatch: pytest.MonkeyPatch, path: str, batches: int = STAGE_BATCHES,
              itemsize: int = 8) -> None:
    """Force the compiled path: direct, or staged with 1 or 2 threads and small buffers."""
    if path == "direct":
        monkeypatch.setattr(fastepoch, "STAGED", "never")
        return
    monkeypatch.setattr(fastepoch, "STAGED", "always")
    monkeypatch.setattr(fastepoch, "STAGE_THREADS", int(path[-1]))
    monkeypatch.setattr(fastepoch, "STAGE_BYTES", batches * BS * D * itemsize)


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    _set_path(monkeypatch, request.param)
    return str(request.param)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records the batch index each compiled epoch stopped at."""
    calls: list[int] = []
    original = fastepoch.FastEpoch.run_epoch

    def wrapped(self: fastepoch.FastEpoch, state: TrainState, lr: float) -> bool:
        ok = original(self, state, lr)
        calls.append(state.batch_index if ok else -1)
        return ok

    monkeypatch.setattr(fastepoch.FastEpoch, "run_epoch", wrapped)
    return calls


def _data(loss: str, K: int, dtype: type = np.float64, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D)).astype(dtype)
    z = X.astype(np.float64) @ rng.standard_normal(D) + 0.2
    if loss == "mse":
        y = z + 0.1 * rng.standard_normal(N)
    elif loss == "bce":
        y = (z + 0.5 * rng.standard_normal(N) > 0).astype(np.float64)
    else:
        y = np.digitize(z, np.quantile(z, np.linspace(0, 1, K + 1)[1:-1]))
    return X, y


def _problem(loss="mse", K=1, weighted=False, alpha=0.0, dtype=np.float64, fit_intercept=True,
             zero_rows=0):
    X, y = _data(loss, K, dtype)
    w = None
    if weighted:
        w = np.random.default_rng(5).uniform(0.0, 2.0, N)
        w[:zero_rows] = 0.0
    model = GLM(D, K, loss, fit_intercept=fit_intercept)
    return ModelProblem.from_arrays(model, X, y, w, alpha)


def _train(problem, optimizer, *, fast, epochs=3, lr=0.05, seed=3, **cfg):
    fastepoch.ENABLED = fast
    try:
        theta0 = problem.model.init(0, scale=0.1, dtype=problem.source.X.dtype)
        state = TrainState.start(theta0, optimizer, random_state=seed)
        config = TrainConfig(optimizer=optimizer, lr=lr, batch_size=cfg.pop("batch_size", BS),
                             epochs=epochs, tol=None, **cfg)
        return run(problem, state, config)
    finally:
        fastepoch.ENABLED = True


def _assert_same_state(a: TrainState, b: TrainState, rtol: float) -> None:
    atol = rtol * 1e-2
    np.testing.assert_allclose(a.theta, b.theta, rtol=rtol, atol=atol)
    assert a.theta.dtype == b.theta.dtype
    assert set(a.opt_state) == set(b.opt_state)
    for key in b.opt_state:
        assert a.opt_state[key].dtype == b.opt_state[key].dtype, key
        np.testing.assert_allclose(a.opt_state[key], b.opt_state[key], rtol=rtol, atol=atol,
                                   err_msg=key)
    assert int(a.opt_state["count"]) == int(b.opt_state["count"])
    assert (a.epoch, a.step, a.batch_index) == (b.epoch, b.step, b.batch_index)
    assert a.epoch_steps == b.epoch_steps and a.epoch_weight == b.epoch_weight
    np.testing.assert_allclose(a.last_finite_loss, b.last_finite_loss, rtol=rtol, atol=atol)
    if b.order is None:
        assert a.order is None
    else:
        np.testing.assert_array_equal(a.order, b.order)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert len(a.history) == len(b.history)
    for ra, rb in zip(a.history, b.history, strict=True):
        assert (ra.epoch, ra.steps, ra.lr) == (rb.epoch, rb.steps, rb.lr)
        np.testing.assert_allclose([ra.loss, ra.grad_norm], [rb.loss, rb.grad_norm],
                                   rtol=rtol, atol=atol)


OPTIMIZERS = {
    "gd": GD(),
    "momentum": Momentum(0.9),
    "momentum-nesterov-wd": Momentum(0.8, nesterov=True, weight_decay=0.05),
    "momentum-beta0-wd": Momentum(0.0, weight_decay=0.1),
    "nesterov-torch": Nesterov(0.9, form="torch"),
    "sgd-dampening-wd": SGD(momentum=0.9, dampening=0.3, weight_decay=0.02),
    "sgd-plain": SGD(),
    "adam": Adam(),
    "adam-amsgrad-wd": Adam(beta1=0.3, amsgrad=True, weight_decay=0.01),
    "adamw": AdamW(),
    "adamw-amsgrad": AdamW(amsgrad=True, weight_decay=0.1),
}
HEADS = [("mse", 1), ("bce", 1), ("cce", 3)]


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize(("loss", "K"), HEADS)
def test_fast_epoch_equals_python_loop(loss, K, opt_name, spy, path):
    problem = _problem(loss, K)
    opt = OPTIMIZERS[opt_name]
    ref = _train(problem, opt, fast=False)
    assert spy == []
    fast = _train(problem, opt, fast=True)
    assert spy == [13, 13, 13]  # three whole epochs ran compiled
    _assert_same_state(fast, ref, rtol=1e-12)


@pytest.mark.parametrize("opt_name", ["gd", "sgd-dampening-wd", "adam-amsgrad-wd", "adamw"])
@pytest.mark.parametrize(("loss", "K"), HEADS)
@pytest.mark.parametrize(("weighted", "alpha", "fit_intercept"),
                         [(True, 0.0, True), (False, 0.3, True), (True, 0.1, False)])
def test_weights_l2_and_no_intercept(loss, K, opt_name, weighted, alpha, fit_intercept, spy,
                                     path):
    problem = _problem(loss, K, weighted=weighted, alpha=alpha, fit_intercept=fit_intercept)
    opt = OPTIMIZERS[opt_name]
    ref = _train(problem, opt, fast=False)
    fast = _train(problem, opt, fast=True)
    assert spy == [13, 13, 13]
    _assert_same_state(fast, ref, rtol=1e-12)
    if not fit_intercept:
        assert np.all(fast.theta[-K:] == 0.0)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_batches_of_groups_and_single_rows(loss, weighted, spy, path):
    # batches of 75 rows = nine eight-row groups plus 3 single rows; the last batch has 53
    # rows (six groups + 5)
    problem = _problem(loss, 1, weighted=weighted)
    ref = _train(problem, Adam(), fast=False, batch_size=75)
    fast = _train(problem, Adam(), fast=True, batch_size=75)
    assert spy == [3, 3, 3]
    _assert_same_state(fast, ref, rtol=1e-12)


@pytest.mark.parametrize("opt_name", ["momentum", "adam"])
def test_zero_weight_batches_take_zero_steps(opt_name, spy, path):
    # without shuffling, batches 0 and 1 hold only zero-weight rows: loss 0, gradient 0,
    # and the optimizer still steps (momentum keeps moving, Adam's count advances)
    problem = _problem("bce", 1, weighted=True, zero_rows=2 * BS)
    opt = OPTIMIZERS[opt_name]
    ref = _train(problem, opt, fast=False, shuffle=False)
    fast = _train(problem, opt, fast=True, shuffle=False)
    assert spy == [13, 13, 13]
    _assert_same_state(fast, ref, rtol=1e-12)
    assert fast.order is None


def test_batch_size_one_and_epoch_schedule(spy, path):
    problem = _problem("mse", 1, weighted=True, alpha=0.01)

    def halving(t: int, lr: float) -> float:
        return lr * 0.5 ** t

    ref = _train(problem, Adam(), fast=False, batch_size=1, schedule=halving, lr=0.01)
    fast = _train(problem, Adam(), fast=True, batch_size=1, schedule=halving, lr=0.01)
    assert spy == [N, N, N]
    _assert_same_state(fast, ref, rtol=1e-12)
    assert [r.lr for r in fast.history] == [0.01, 0.005, 0.0025]


@pytest.mark.parametrize(("loss", "K"), HEADS)
@pytest.mark.parametrize("opt_name", ["sgd-dampening-wd", "adam-amsgrad-wd"])
@pytest.mark.parametrize("path_name", PATHS)
def test_float32(loss, K, opt_name, spy, path_name, monkeypatch):
    _set_path(monkeypatch, path_name, itemsize=4)
    problem = _problem(loss, K, weighted=True, alpha=0.05, dtype=np.float32)
    opt = OPTIMIZERS[opt_name]
    ref = _train(problem, opt, fast=False, lr=0.02)
    fast = _train(problem, opt, fast=True, lr=0.02)
    assert spy == [13, 13, 13]
    assert fast.theta.dtype == np.float32
    _assert_same_state(fast, ref, rtol=2e-5)


def test_resume_mid_epoch_continues_in_python_then_compiled(spy, path):
    # stop the Python loop after 5 steps of epoch 0, then resume with the fast path enabled:
    # the rest of epoch 0 must run in Python (batch_index != 0), later epochs compiled
    problem = _problem("cce", 3, weighted=True)
    opt = Adam()
    ref = _train(problem, opt, fast=False)

    class Stop(Exception):
        pass

    def stop_after_5(state: TrainState) -> None:
        if state.step == 5:
            raise Stop

    fastepoch.ENABLED = True
    theta0 = problem.model.init(0, scale=0.1)
    state = TrainState.start(theta0, opt, random_state=3)
    config = TrainConfig(optimizer=opt, lr=0.05, batch_size=BS, epochs=3, tol=None)
    with pytest.raises(Stop):
        run(problem, state, config, step_callbacks=[stop_after_5])
    assert state.batch_index == 5 and spy == []
    run(problem, state, config)
    assert spy == [13, 13]
    _assert_same_state(state, ref, rtol=1e-12)


@pytest.mark.parametrize(("loss", "K", "lr"), [("mse", 1, 20.0), ("mse", 1, 1e308)])
def test_divergence_raises_the_same_error(loss, K, lr, spy, path):
    problem = _problem(loss, K)
    errors, states = [], []
    for fast in (False, True):
        fastepoch.ENABLED = fast
        theta0 = problem.model.init(0, scale=0.1)
        state = TrainState.start(theta0, GD(), random_state=3)
        # the finite-growth rules off: this is the non-finite step the kernel must stop at
        config = TrainConfig(optimizer="gd", lr=lr, batch_size=BS, epochs=50, tol=None,
                             divergence_ratio=None, divergence_epochs=None)
        try:
            with pytest.raises(DivergenceError) as info:
                run(problem, state, config)
        finally:
            fastepoch.ENABLED = True
        errors.append(info.value)
        states.append(state)
    ref, got = errors
    assert (got.epoch, got.step, got.lr) == (ref.epoch, ref.step, ref.lr)
    assert str(got).split("(")[0] == str(ref).split("(")[0]  # same step and "what"
    np.testing.assert_allclose(got.last_finite_loss, ref.last_finite_loss, rtol=1e-10)
    np.testing.assert_allclose(got.params, ref.params, rtol=1e-10)
    np.testing.assert_allclose(states[1].theta, states[0].theta, rtol=1e-10)
    assert spy, "the compiled path must have run"
    if lr < 1e300:
        # the compiled kernel ran the finite steps of the bad epoch and stopped at the bad one
        assert ref.step > 0 and spy[-1] == ref.step % 13
    else:
        assert spy == [0]  # the very first step overflows the parameters
        assert "parameters" in str(got)


def _reason(problem, optimizer, step_callbacks=(), **cfg):
    config = TrainConfig(optimizer=optimizer, batch_size=cfg.pop("batch_size", BS), **cfg)
    return fastepoch.unsupported_reason(problem, optimizer, config, step_callbacks)


def test_supported_and_unsupported_configs():
    problem = _problem("mse")
    assert _reason(problem, Adam()) is None
    assert "full-batch" in _reason(problem, Adam(), batch_size=None)
    assert "full-batch" in _reason(problem, Adam(), batch_size=N)
    assert "schedule_unit" in _reason(problem, Adam(), schedule_unit="step")
    assert "step callbacks" in _reason(problem, Adam(), step_callbacks=[print])
    assert "Adagrad" in _reason(problem, Adagrad())

    class MyAdam(Adam):
        pass

    assert "MyAdam" in _reason(problem, MyAdam())
    cols = ModelProblem.from_arrays(GLM(D, 1, "mse", layout="columns"), problem.source.X, problem.source.y)
    assert "columns" in _reason(cols, Adam())
    X, y = _data("cce", 3)
    assert "canonical" in _reason(ModelProblem.from_arrays(GLM(D, 3, "softmax_mse"), X, y), Adam())
    onehot = np.eye(3)[y]
    assert "1-D" in _reason(ModelProblem.from_arrays(GLM(D, 3, "cce"), X, onehot), Adam())
    assert "C-contiguous" in _reason(ModelProblem.from_arrays(GLM(D, 1, "mse"), np.asfortranarray(X),
                                                problem.source.y), Adam())
    fastepoch.ENABLED = False
    try:
        assert "ENABLED" in _reason(problem, Adam())
    finally:
        fastepoch.ENABLED = True


def test_unsupported_configs_fall_back_to_python(spy):
    problem = _problem("mse")
    for opt, cfg in [(Adagrad(), {}), (Adam(), {"schedule_unit": "step"}),
                     (Adam(), {"batch_size": None})]:
        _train(problem, opt, fast=True, epochs=1, **cfg)
    assert spy == []
    # a theta of another dtype than X: the plan exists but the epoch declines (Python runs)
    fastepoch.ENABLED = True
    state = TrainState.start(problem.model.init(0).astype(np.float32), GD(), random_state=1)
    run(problem, state, TrainConfig(optimizer=GD(), lr=0.05, batch_size=BS, epochs=1, tol=None))
    assert spy == [-1] and state.step == 13


def _final_state(problem, opt, monkeypatch, path, batches=STAGE_BATCHES, epochs=2, **cfg):
    _set_path(monkeypatch, path, batches)
    return _train(problem, opt, fast=True, epochs=epochs, **cfg)


@pytest.mark.parametrize(("loss", "K"), HEADS)
@pytest.mark.parametrize("opt_name", ["momentum-nesterov-wd", "adamw-amsgrad"])
@pytest.mark.parametrize("batches", [1, 4, 13, 40])
def test_staged_is_bitwise_the_direct_kernel(loss, K, opt_name, batches, monkeypatch, spy):
    # the staged path runs the same steps on the same rows: not just close, identical, for
    # super-chunks of 1 batch, 4 (a partial last super-chunk of 1 batch), 13 (exactly one)
    # and 40 (one super-chunk larger than the epoch), with one thread or two
    problem = _problem(loss, K, weighted=True, alpha=0.05)
    opt = OPTIMIZERS[opt_name]
    ref = _final_state(problem, opt, monkeypatch, "direct")
    for threads in ("staged-1", "staged-2"):
        got = _final_state(problem, opt, monkeypatch, threads, batches)
        np.testing.assert_array_equal(got.theta, ref.theta)
        for key in ref.opt_state:
            np.testing.assert_array_equal(got.opt_state[key], ref.opt_state[key])
        assert got.last_finite_loss == ref.last_finite_loss
        assert [(r.loss, r.grad_norm) for r in got.history] == [
            (r.loss, r.grad_norm) for r in ref.history]
    assert spy == [13, 13] * 3


@pytest.mark.parametrize("path_name", ["staged-1", "staged-2"])
def test_staged_divergence_in_a_later_super_chunk(path_name, monkeypatch, spy):
    # plain GD with lr 1e15 overflows at step 11 of the first epoch, in the fourth
    # super-chunk (batches of 16, super-chunks of 3): the staged kernel must stop before the
    # bad step, let the helper thread go, and the Python loop reports the same error
    problem = _problem("mse")
    errors = []
    for fast, p in ((False, "direct"), (True, path_name)):
        _set_path(monkeypatch, p)
        with pytest.raises(DivergenceError) as info:
            _train(problem, GD(), fast=fast, lr=1e15, epochs=5)
        errors.append(info.value)
    ref, got = errors
    assert (ref.epoch, ref.step) == (0, 11)  # past the third super-chunk
    assert (got.epoch, got.step, got.lr) == (ref.epoch, ref.step, ref.lr)
    np.testing.assert_allclose(got.params, ref.params, rtol=1e-12)
    np.testing.assert_allclose(got.last_finite_loss, ref.last_finite_loss, rtol=1e-12)
    assert spy == [ref.step]


def _plan(problem, batch_size=BS):
    config = TrainConfig(optimizer=GD(), lr=0.1, batch_size=batch_size, epochs=1, tol=None)
    fe = fastepoch.plan(problem, GD(), config)
    assert fe is not None
    return fe


def test_staged_auto_rule(monkeypatch):
    problem = _problem("mse")
    fe = _plan(problem)
    assert fastepoch.STAGED == "auto"
    assert not fe.staged()  # a small X stays in the caches: the direct kernel
    monkeypatch.setattr(fastepoch, "STAGED_MIN_BYTES", 0)
    assert fe.staged() and not fe.staged(shuffled=False)  # unshuffled rows are read in order
    monkeypatch.setattr(fastepoch, "STAGE_THREADS", 1)
    assert not fe.staged()  # one thread: staging is only an extra copy
    monkeypatch.setattr(fastepoch, "STAGE_THREADS", 2)
    monkeypatch.setattr(fastepoch, "STAGE_MAX_BYTES", BS * D * 8 - 1)
    assert not fe.staged()  # a batch larger than a staging buffer
    for mode, expected in (("always", True), ("never", False)):
        monkeypatch.setattr(fastepoch, "STAGED", mode)
        assert fe.staged(shuffled=False) is expected
    monkeypatch.setattr(fastepoch, "_HAVE_YIELD", False)  # no sched_yield (Windows): never
    assert not fe.staged() and not fe.choose_staged()


@pytest.mark.parametrize(("path_name", "batches"), [("staged-1", 3), ("staged-2", 3),
                                                    ("staged-2", 1)])
def test_staging_buffers_and_super_chunk_counts(path_name, batches, monkeypatch):
    # bounded buffers (one super-chunk per thread, never a copy of X) and every super-chunk
    # staged exactly once (claimed atomically): with one thread the calling thread stages
    # them all; with two, the threads share them
    _set_path(monkeypatch, path_name, batches)
    problem = _problem("bce", 1, weighted=True)
    fe = _plan(problem)
    assert fe.choose_staged() and fe.spc == batches
    state = TrainState.start(problem.model.init(0), GD(), random_state=1)
    state.order = state.rng.permutation(N)
    assert fe.run_epoch(state, 0.1) and state.batch_index == 13
    B, Yb, Lb, Sb = fe._stage_buffers()
    assert B.shape == (2, batches * BS, D) and Yb.shape == Sb.shape == (2, batches * BS)
    assert Lb.shape == (2, 0)
    rows_c = batches * BS
    n_chunks = -(-N // rows_c)
    assert fe.stage_info.sum() == n_chunks
    if path_name == "staged-1":
        assert list(fe.stage_info) == [0, n_chunks]
    # the last super-chunk's rows are in the buffer of the thread that staged it, in order
    lo = (n_chunks - 1) * rows_c
    assert any(np.array_equal(B[t, :N - lo], problem.source.X[state.order[lo:]])
               and np.array_equal(Yb[t, :N - lo], problem.source.y[state.order[lo:]]) for t in (0, 1))


def test_auto_times_both_paths_and_keeps_the_faster(monkeypatch, spy):
    # "auto" on an X it may stage: epoch 1 staged, epoch 2 direct, then the faster by the last
    # measured epoch, the other re-timed every STAGE_RETRY epochs; results stay identical
    monkeypatch.setattr(fastepoch, "STAGED_MIN_BYTES", 0)
    monkeypatch.setattr(fastepoch, "STAGE_RETRY", 3)
    problem = _problem("cce", 3, weighted=True)
    fe = _plan(problem)
    assert fe.choose_staged() and fe.seconds == {"staged": None, "direct": None}
    fe.seconds["staged"] = 1.0
    assert not fe.choose_staged()
    fe.seconds["direct"] = 2.0
    assert [fe.choose_staged() for _ in range(6)] == [True, True, False, True, True, False]
    fe.seconds["direct"] = 0.5
    assert [fe.choose_staged() for _ in range(3)] == [False, False, True]
    assert not fe.choose_staged(shuffled=False)

    _set_path(monkeypatch, "direct")
    ref = _train(problem, Adam(), fast=True, epochs=5)
    monkeypatch.setattr(fastepoch, "STAGED", "auto")
    got = _train(problem, Adam(), fast=True, epochs=5)
    assert spy == [13] * 10
    np.testing.assert_array_equal(got.theta, ref.theta)
    np.testing.assert_array_equal(got.opt_state["nu"], ref.opt_state["nu"])


def _staged_theta(problem):
    state = _train(problem, Momentum(0.9), fast=True, epochs=2)
    return state.theta


def test_staged_epochs_in_concurrent_threads(monkeypatch):
    # two fits at once in two Python threads, each with its own helper thread
    from concurrent.futures import ThreadPoolExecutor

    problems = [_problem("bce", 1, weighted=True), _problem("cce", 3, alpha=0.1)]
    _set_path(monkeypatch, "direct")
    refs = [_staged_theta(p) for p in problems]
    _set_path(monkeypatch, "staged-2", batches=1)
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            got = list(pool.map(_staged_theta, problems))
            for a, b in zip(got, refs, strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_staged_epoch_in_a_forked_child(monkeypatch):
    # the helper pool is per process: a child forked after staged epochs makes its own
    import multiprocessing

    _set_path(monkeypatch, "staged-2")
    problem = _problem("mse", 1)
    ref = _staged_theta(problem)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_staged_theta, (problem,)).get(timeout=60)
    np.testing.assert_array_equal(got, ref)
