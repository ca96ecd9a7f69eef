"""The compiled engine and the NumPy reference give the same fits (1e-9 relative).

Every model (linear, logistic, softmax) with every optimizer, mini-batch and full batch, is
trained twice by the one loop: ``engine="compiled"`` and ``engine="numpy"``. The size
thresholds of the fused full-batch kernels are lowered so that the small data here take them,
and ``GDLAB_COMPILE=always`` (tests/conftest.py) lets the compiled epochs run on them; spies
assert that the compiled paths ran.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.core.loop import ModelProblem, TrainConfig, TrainState, run
from gdlab.core.models import LinearModel, LogisticModel, SoftmaxModel
from gdlab.core.optim import OPTIMIZERS

pytestmark = pytest.mark.numba

M, N = 240, 6
# the optimizers with a compiled mini-batch epoch (the others run the Python loop on both)
COMPILED_EPOCH = {"gd", "sgd", "momentum", "nesterov", "adam", "adamw"}
LR = {"gd": 0.1, "sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.1,
      "rmsprop": 0.01, "adam": 0.01, "adamw": 0.01}


def _data(kind: str) -> tuple[object, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((M, N))
    z = X @ rng.standard_normal(N)
    w = rng.uniform(0.5, 2.0, M)
    if kind == "linear":
        return LinearModel(n_features=N), X, z + 0.1 * rng.standard_normal(M), w
    if kind == "logistic":
        return LogisticModel(n_features=N), X, (z > 0).astype(np.float64), w
    labels = np.digitize(z, np.quantile(z, [0.25, 0.5, 0.75]))
    return SoftmaxModel(n_features=N, n_outputs=4), X, labels, w


def _fit(kind: str, optimizer: str, batch_size: int | None, engine: str) -> TrainState:
    model, X, y, w = _data(kind)
    problem = ModelProblem.from_arrays(model, X, y, w, alpha=1e-3, engine=engine)
    state = TrainState.start(model.init(0, scale=0.1), optimizer, random_state=3)
    config = TrainConfig(optimizer=optimizer, lr=LR[optimizer], batch_size=batch_size,
                         epochs=15, tol=None)
    return run(problem, state, config)


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Lowered fused-kernel thresholds, and counters of fused-kernel calls and compiled epochs."""
    from gdlab.engines import fastepoch, kernels

    for name in ("FUSED_MIN_SIZE", "FUSED_MIN_SIZE_NARROW", "FUSED_MIN_SIZE_SOFTMAX"):
        monkeypatch.setattr(kernels, name, 1)
    calls: dict[str, list[int]] = {"kernel": [], "epoch": []}
    real_kernel, real_epoch = kernels.loss_grad, fastepoch.FastEpoch.run_epoch
    monkeypatch.setattr(kernels, "loss_grad",
                        lambda *a, **k: calls["kernel"].append(1) or real_kernel(*a, **k))
    monkeypatch.setattr(fastepoch.FastEpoch, "run_epoch",
                        lambda self, *a: calls["epoch"].append(1) or real_epoch(self, *a))
    return calls


@pytest.mark.parametrize("batch_size", [None, 32], ids=["full", "mini"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["linear", "logistic", "softmax"])
def test_compiled_engine_equals_numpy(kind: str, optimizer: str, batch_size: int | None,
                                      spies: dict[str, list[int]]) -> None:
    ref = _fit(kind, optimizer, batch_size, "numpy")
    assert spies == {"kernel": [], "epoch": []}  # the reference never touches compiled code
    got = _fit(kind, optimizer, batch_size, "compiled")
    if batch_size is None:
        assert spies["kernel"], "the fused full-batch kernel did not run"
    elif optimizer in COMPILED_EPOCH:
        assert spies["epoch"], "the compiled epoch did not run"
    np.testing.assert_allclose(got.theta, ref.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([r.loss for r in got.history], [r.loss for r in ref.history],
                               rtol=1e-9)
    assert (got.epoch, got.step) == (ref.epoch, ref.step)
