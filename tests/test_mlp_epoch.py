"""The compiled MLP epoch (gdlab.engines.mlp_epoch) against the Python loop it replaces.

Each test trains the same network twice from the same start: with ``engine="numpy"`` (the
model's NumPy formulas, the reference) and with ``engine="compiled"`` under
``GDLAB_COMPILE=always``; a spy on MLPEpoch.run_epoch asserts that the compiled epoch ran.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.core.loop import DivergenceError, ModelProblem, TrainConfig, TrainState, run
from gdlab.core.models import MLP
from gdlab.core.optim import GD, Adam, AdamW, Momentum, Nesterov
from gdlab.core.schedules import CosineAnnealingLR
from gdlab.engines import compiled, mlp_epoch

pytestmark = pytest.mark.numba

N, D, BS = 203, 6, 16  # 13 batches, the last one partial (11 rows)


@pytest.fixture(autouse=True)
def _always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "COMPILE", "always")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch index each compiled epoch stopped at."""
    calls: list[int] = []
    original = mlp_epoch.MLPEpoch.run_epoch

    def wrapped(self: mlp_epoch.MLPEpoch, state: TrainState, lr: float) -> bool:
        ok = original(self, state, lr)
        calls.append(state.batch_index if ok else -1)
        return ok

    monkeypatch.setattr(mlp_epoch.MLPEpoch, "run_epoch", wrapped)
    return calls


def _data(loss: str, dtype: type = np.float64, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)).astype(dtype)
    if loss == "cce":
        return X, rng.integers(0, 3, N), 3
    if loss == "bce":
        return X, (X[:, 0] + 0.3 * rng.normal(size=N) > 0).astype(float), 1
    return X, X @ rng.normal(size=D) + 0.1 * rng.normal(size=N), 1


def _train(model: MLP, X: np.ndarray, y: np.ndarray, engine: str, optimizer: object,
           sample_weight: np.ndarray | None = None, alpha: float = 1e-3, epochs: int = 3,
           lr: float = 0.05, schedule: object = None) -> TrainState:
    problem = ModelProblem.from_arrays(model, X, y, sample_weight, alpha=alpha, engine=engine)
    state = TrainState.start(model.init(1, dtype=X.dtype), optimizer, random_state=7)
    config = TrainConfig(optimizer=optimizer, lr=lr, batch_size=BS, epochs=epochs, tol=None,
                         schedule=schedule)
    return run(problem, state, config)


def _same(a: TrainState, b: TrainState, rtol: float) -> None:
    np.testing.assert_allclose(a.theta, b.theta, rtol=rtol, atol=rtol * 1e-3)
    for key in a.opt_state:
        np.testing.assert_allclose(a.opt_state[key], b.opt_state[key], rtol=rtol,
                                   atol=rtol * 1e-3)
    np.testing.assert_allclose([r.loss for r in a.history], [r.loss for r in b.history],
                               rtol=rtol)
    np.testing.assert_allclose([r.grad_norm for r in a.history],
                               [r.grad_norm for r in b.history], rtol=rtol)
    assert (a.step, a.epoch) == (b.step, b.epoch)


@pytest.mark.parametrize("activation", sorted(mlp_epoch.ACT_CODES))
@pytest.mark.parametrize("loss", ["cce", "bce", "mse"])
def test_every_activation_and_head_equals_the_python_loop(
        activation: str, loss: str, spy: list[int]) -> None:
    X, y, K = _data(loss)
    model = MLP(D, (5, 4), K, (activation, "tanh"), loss)
    ref = _train(model, X, y, "numpy", Adam())
    assert spy == []
    fast = _train(model, X, y, "compiled", Adam())
    assert spy == [13, 13, 13]
    _same(ref, fast, rtol=1e-10)


@pytest.mark.parametrize("optimizer", [GD(), Momentum(0.9), Momentum(0.9, form="torch"),
                                       Nesterov(0.9), Adam(amsgrad=True, weight_decay=0.01),
                                       AdamW(weight_decay=0.05)],
                         ids=["gd", "momentum", "momentum-torch", "nesterov", "amsgrad",
                              "adamw"])
def test_every_optimizer_with_weights_and_a_schedule(optimizer: object, spy: list[int]) -> None:
    X, y, K = _data("cce", seed=3)
    w = np.random.default_rng(4).uniform(0.0, 2.0, N)
    w[16:32] = 0.0  # batch 1 of the unshuffled order; shuffled, some batches hold zeros
    model = MLP(D, (7,), K, "relu", "cce")
    ref = _train(model, X, y, "numpy", optimizer, sample_weight=w, schedule=CosineAnnealingLR(3))
    fast = _train(model, X, y, "compiled", optimizer, sample_weight=w, schedule=CosineAnnealingLR(3))
    assert spy == [13, 13, 13]
    _same(ref, fast, rtol=1e-10)


def test_float32_runs_in_float32_close_to_the_python_loop(spy: list[int]) -> None:
    X, y, K = _data("cce", np.float32)
    model = MLP(D, (8,), K, "relu", "cce")
    ref = _train(model, X, y, "numpy", Adam(), epochs=4)
    fast = _train(model, X, y, "compiled", Adam(), epochs=4)
    assert spy == [13] * 4
    assert fast.theta.dtype == np.float32 and fast.opt_state["mu"].dtype == np.float32
    _same(ref, fast, rtol=2e-4)


def test_divergence_is_reported_at_the_same_step(spy: list[int]) -> None:
    X, y, _ = _data("mse")
    X = X * 1e3
    model = MLP(D, (6,), 1, "relu", "mse")
    errors = []
    for engine in ("numpy", "compiled"):
        with pytest.raises(DivergenceError) as info:
            _train(model, X, y, engine, GD(), lr=10.0, alpha=0.0)
        errors.append(info.value)
    assert spy and spy[0] < 13  # the compiled epoch stopped before the bad step
    assert (errors[0].epoch, errors[0].step) == (errors[1].epoch, errors[1].step)
    np.testing.assert_allclose(errors[0].params, errors[1].params, rtol=1e-10)


@pytest.mark.parametrize("change, reason", [
    ({"dropout": 0.2}, "dropout"),
    ({"activation": "gelu"}, "activation"),
])
def test_the_python_loop_runs_what_the_kernel_does_not(change: dict, reason: str) -> None:
    X, y, K = _data("cce")
    model = MLP(D, (5,), K, **{"activation": "relu", "loss": "cce", **change})
    problem = ModelProblem.from_arrays(model, X, y, engine="compiled")
    config = TrainConfig(optimizer="adam", batch_size=BS)
    assert reason in str(mlp_epoch.unsupported_reason(problem, Adam(), config))
    assert problem.engine.epoch_runner(problem, Adam(), config) is None


def test_the_engine_hands_mlp_epochs_to_the_kernel() -> None:
    X, y, K = _data("cce")
    problem = ModelProblem.from_arrays(MLP(D, (5,), K, "relu", "cce"), X, y, engine="compiled")
    runner = problem.engine.epoch_runner(problem, Adam(), TrainConfig(batch_size=BS))
    assert isinstance(runner, mlp_epoch.MLPEpoch)
    full = problem.engine.epoch_runner(problem, Adam(), TrainConfig(batch_size=None))
    assert full is None  # one step per epoch: the loop runs it


@pytest.mark.parametrize("loss", ["cce", "bce"])
def test_one_or_two_threads_give_the_same_bits(loss: str, spy: list[int],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    X, y, K = _data(loss, seed=5)
    w = np.random.default_rng(6).uniform(0.5, 1.5, N)
    model = MLP(D, (9, 5), K, ("relu", "sigmoid"), loss)
    runs = []
    for threads in (1, 2, "auto"):
        monkeypatch.setattr(mlp_epoch, "THREADS", threads)
        runs.append(_train(model, X, y, "compiled", Adam(), sample_weight=w, epochs=12))
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].theta, other.theta)
        assert [r.loss for r in runs[0].history] == [r.loss for r in other.history]


def test_auto_times_both_thread_counts_and_keeps_the_faster(
        monkeypatch: pytest.MonkeyPatch) -> None:
    X, y, K = _data("cce")
    problem = ModelProblem.from_arrays(MLP(D, (5,), K, "relu", "cce"), X, y, engine="compiled")
    runner = mlp_epoch.plan(problem, Adam(), TrainConfig(batch_size=BS))
    assert runner is not None
    monkeypatch.setattr(mlp_epoch, "_max_threads", lambda: 2)
    monkeypatch.setattr(mlp_epoch.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(mlp_epoch.os, "getloadavg", lambda: (1.2, 0.5, 0.5))
    assert runner.threads() == 1  # nothing timed yet: one thread first
    runner.thread_seconds[1], runner._epochs = 0.2, 2
    assert runner.threads() == 2  # then two, on an idle machine
    monkeypatch.setattr(mlp_epoch.os, "getloadavg", lambda: (1.6, 0.5, 0.5))
    assert runner.threads() == 1  # not while the other core is busy
    runner.thread_seconds[2] = 0.1
    assert runner.threads() == 2  # two threads won: kept
    runner.thread_seconds[2] = 0.3
    runner._next_try = 3 + mlp_epoch.THREADS_RETRY
    monkeypatch.setattr(mlp_epoch.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert runner.threads() == 1  # they lost: one thread until the next try
    runner._epochs = runner._next_try
    assert runner.threads() == 2


def test_two_threads_that_lose_are_tried_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y, K = _data("cce")
    model = MLP(D, (5,), K, "relu", "cce")
    problem = ModelProblem.from_arrays(model, X, y, engine="compiled")
    runner = mlp_epoch.plan(problem, Adam(), TrainConfig(batch_size=BS))
    assert runner is not None
    monkeypatch.setattr(mlp_epoch, "THREADS", 2)
    state = TrainState.start(model.init(0), Adam(), random_state=0)
    runner.thread_seconds[1] = 0.0  # any real epoch is slower
    runner._epochs = 1
    runner.run_epoch(state, 0.01)
    assert runner._retry == 2 * mlp_epoch.THREADS_RETRY
    assert runner._next_try == 2 + 2 * mlp_epoch.THREADS_RETRY


def test_the_saving_per_step_grows_with_the_network() -> None:
    rng = np.random.default_rng(0)
    big = ModelProblem.from_arrays(MLP(50, (128,), 10, "relu", "cce"),
                                   rng.normal(size=(1000, 50)), rng.integers(0, 10, 1000))
    tiny = ModelProblem.from_arrays(MLP(2, (8, 8), 1, "tanh", "bce"),
                                    rng.normal(size=(1000, 2)), rng.integers(0, 2, 1000) * 1.0)
    config = TrainConfig(batch_size=200)
    # measured: ~370 us saved per step of the big network, ~75 us of the tiny one (16 rows)
    assert 300e-6 < compiled._step_seconds(big, config) < 500e-6
    assert 55e-6 < compiled._step_seconds(tiny, TrainConfig(batch_size=16)) < 90e-6
