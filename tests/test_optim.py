"""Optimizers: hand-computed first steps, convergence tables, element-wise and state contracts."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.core.optim import (
    GD,
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    get_optimizer,
)

ALL = [
    GD(),
    SGD(momentum=0.9),
    Momentum(0.9),
    Momentum(0.8, form="torch", dampening=0.3, weight_decay=0.01),
    Nesterov(0.9),
    Nesterov(0.9, form="torch"),
    Adagrad(lr_decay=0.01, initial_accumulator_value=0.1),
    Adagrad(eps_inside_sqrt=True),
    RMSprop(),
    RMSprop(alpha=0.9, eps_inside_sqrt=True),
    RMSprop(centered=True, momentum=0.5, weight_decay=0.01),
    Adam(),
    Adam(amsgrad=True, weight_decay=0.01),
    AdamW(),
    AdamW(amsgrad=True),
]
ALL_IDS = [repr(o) for o in ALL]


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    X, Y = x[..., 0], x[..., 1]
    return np.stack([-2 * (1 - X) - 400 * X * (Y - X**2), 200 * (Y - X**2)], axis=-1)


def run(opt, grad_fn, x0, lr, n_steps):
    x = np.array(x0, copy=True)
    state = opt.init(x)
    for _ in range(n_steps):
        updates, state = opt.update(grad_fn(x), state, x, lr)
        x = x + updates
    return x, state


# ---- hand-computed steps -----------------------------------------------------------------
G = np.array([2.0, -0.5])
P = np.array([1.0, 1.0])
LR = 0.1


def two_steps(opt, g=G, p=P, lr=LR):
    state = opt.init(p)
    u1, state = opt.update(g, state, p, lr)
    u2, state = opt.update(g, state, p + u1, lr)
    return u1, u2, state


FIRST_STEPS = [
    # (optimizer, update 1, update 2) with the same gradient G twice, lr 0.1
    (GD(), [-0.2, 0.05], [-0.2, 0.05]),
    # lesson: v1 = -lr g, v2 = 0.9 v1 - lr g = -0.19 g
    (Momentum(0.9), [-0.2, 0.05], [-0.38, 0.095]),
    # torch: b1 = g, b2 = 0.9 g + (1 - 0.5) g = 1.4 g
    (Momentum(0.9, form="torch", dampening=0.5), [-0.2, 0.05], [-0.28, 0.07]),
    # Nesterov lesson: beta v1 - lr g = -1.9 lr g; then beta v2 - lr g = (0.9*1.9 + 1) (-lr g)
    (Nesterov(0.9), [-0.38, 0.095], [-0.542, 0.1355]),
    # weight decay 0.5 on p = [1, 1]: g' = [2.5, 0]
    (SGD(weight_decay=0.5), [-0.25, 0.0], None),
    # Adagrad: sum = g^2 -> -lr g / (|g| + eps); then sum = 2 g^2 -> -lr g / (sqrt(2)|g| + eps)
    (Adagrad(), [-0.1 * 2 / (2 + 1e-10), 0.1 * 0.5 / (0.5 + 1e-10)],
     [-0.1 * 2 / (2 * np.sqrt(2) + 1e-10), 0.1 * 0.5 / (0.5 * np.sqrt(2) + 1e-10)]),
    # lesson Adagrad: eps inside the root
    (Adagrad(eps=1e-2, eps_inside_sqrt=True), [-0.2 / np.sqrt(4.01), 0.05 / np.sqrt(0.26)], None),
    # lr_decay: step 2 uses lr / (1 + 1 * 0.5)
    (Adagrad(lr_decay=0.5), [-0.1 * 2 / (2 + 1e-10), 0.1 * 0.5 / (0.5 + 1e-10)],
     [-0.1 / 1.5 * 2 / (2 * np.sqrt(2) + 1e-10), 0.1 / 1.5 * 0.5 / (0.5 * np.sqrt(2) + 1e-10)]),
    # RMSprop (torch): nu = 0.01 g^2 -> -lr g / (0.1 |g| + eps)
    (RMSprop(), [-0.2 / (0.1 * 2 + 1e-8), 0.05 / (0.1 * 0.5 + 1e-8)], None),
    # the lesson's RMSprop: E = 0.1 g^2, eps inside: -lr g / sqrt(0.1 g^2 + eps)
    (RMSprop(alpha=0.9, eps=1e-2, eps_inside_sqrt=True),
     [-0.2 / np.sqrt(0.4 + 1e-2), 0.05 / np.sqrt(0.025 + 1e-2)], None),
    # centered: nu - mu^2 = 0.01 g^2 - 1e-4 g^2 = 0.0099 g^2
    (RMSprop(centered=True, eps=1e-8),
     [-0.2 / (np.sqrt(0.0099) * 2 + 1e-8), 0.05 / (np.sqrt(0.0099) * 0.5 + 1e-8)], None),
    # Adam step 1: m_hat = g, v_hat = g^2 -> -lr g / (|g| + eps), any betas
    (Adam(), [-0.2 / (2 + 1e-8), 0.05 / (0.5 + 1e-8)],
     [-0.2 / (2 + 1e-8), 0.05 / (0.5 + 1e-8)]),
    (Adam(beta1=0.5, beta2=0.5, eps=0.5), [-0.2 / 2.5, 0.05 / 1.0], None),
    # AdamW on p = [1, 1]: -lr wd p first, then the Adam step
    (AdamW(weight_decay=0.5, eps=0.5), [-0.05 - 0.2 / 2.5, -0.05 + 0.05 / 1.0], None),
    # Adam's coupled decay: g' = g + 0.5 p = [2.5, 0] -> step [-lr, 0]
    (Adam(weight_decay=0.5, eps=1e-300), [-0.1, 0.0], None),
]


@pytest.mark.parametrize(("opt", "u1", "u2"), FIRST_STEPS, ids=[repr(c[0]) for c in FIRST_STEPS])
def test_hand_computed_steps(opt, u1, u2):
    got1, got2, state = two_steps(opt)
    np.testing.assert_allclose(got1, u1, rtol=1e-14, atol=1e-300)
    if u2 is not None:
        np.testing.assert_allclose(got2, u2, rtol=1e-14, atol=1e-300)
    assert state["count"].shape == () and state["count"].dtype == np.int64
    assert int(state["count"]) == 2


def test_adam_second_step_by_hand():
    opt = Adam(beta1=0.9, beta2=0.999, eps=1e-8)
    g1, g2 = np.array([1.0]), np.array([3.0])
    s = opt.init(np.zeros(1))
    _, s = opt.update(g1, s, np.zeros(1), 0.1)
    u, s = opt.update(g2, s, np.zeros(1), 0.1)
    m = 0.9 * 0.1 * 1 + 0.1 * 3  # 0.39
    v = 0.999 * 0.001 * 1 + 0.001 * 9  # 0.009999
    m_hat, v_hat = m / (1 - 0.81), v / (1 - 0.999**2)
    np.testing.assert_allclose(u, [-0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)], rtol=1e-14)
    np.testing.assert_allclose(s["mu"], [m], rtol=1e-15)
    np.testing.assert_allclose(s["nu"], [v], rtol=1e-15)


def test_amsgrad_keeps_the_max_of_nu():
    opt = Adam(amsgrad=True)
    p = np.zeros(1)
    s = opt.init(p)
    _, s = opt.update(np.array([10.0]), s, p, 0.1)
    _, s = opt.update(np.array([0.0]), s, p, 0.1)
    assert s["nu_max"][0] == pytest.approx(0.1)  # (1 - 0.999) * 100, then nu shrinks
    assert s["nu"][0] < s["nu_max"][0]


# ---- convergence tables ------------------------------------------------------------------
PARABOLA_CASES = [
    (GD(), 0.15, 200),
    (Momentum(0.5), 0.1, 200),
    (Nesterov(0.5), 0.1, 200),
    (SGD(momentum=0.5, nesterov=True), 0.1, 200),
    (Adagrad(), 1.0, 500),
    (RMSprop(), 0.01, 3000),
    (RMSprop(alpha=0.9, eps_inside_sqrt=True), 0.01, 3000),
    (Adam(), 0.05, 2000),
    (AdamW(weight_decay=0.0), 0.05, 2000),
]


@pytest.mark.parametrize(("opt", "lr", "n_steps"), PARABOLA_CASES,
                         ids=[repr(c[0]) for c in PARABOLA_CASES])
def test_parabola_reaches_minimum(opt, lr, n_steps):
    # f = 0.5 (x0^2 + 10 x1^2) shifted to (1, -2); curvature 1 and 10
    c, center = np.array([1.0, 10.0]), np.array([1.0, -2.0])
    x, _ = run(opt, lambda x: c * (x - center), [4.0, 3.0], lr, n_steps)
    # RMSprop / Adam hover at a distance ~ lr around the minimum with a constant lr
    np.testing.assert_allclose(x, center, atol=2e-2)


ROSENBROCK_CASES = [
    (GD(), 1.5e-3, 12000, 5e-3),
    (Momentum(0.9), 1e-3, 2500, 1e-3),
    (Momentum(0.9, form="torch"), 1e-3, 2500, 1e-3),
    (Nesterov(0.9), 1e-3, 2500, 1e-3),
    (Adagrad(), 0.5, 14000, 1e-3),
    (RMSprop(), 1e-3, 10000, 2e-3),
    (RMSprop(alpha=0.9, eps_inside_sqrt=True), 1e-3, 10000, 2e-3),
    (Adam(), 0.02, 3000, 1e-3),
    (Adam(amsgrad=True), 0.05, 2500, 1e-3),
    (AdamW(weight_decay=1e-4), 0.02, 3000, 5e-3),
]


@pytest.mark.slow
@pytest.mark.parametrize(("opt", "lr", "n_steps", "tol"), ROSENBROCK_CASES,
                         ids=[repr(c[0]) for c in ROSENBROCK_CASES])
def test_rosenbrock_reaches_minimum(opt, lr, n_steps, tol):
    x, _ = run(opt, rosenbrock_grad, [-1.5, 2.0], lr, n_steps)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=tol)


def test_momentum_beats_gd_on_rosenbrock():
    x_gd, _ = run(GD(), rosenbrock_grad, [-1.5, 2.0], 1e-3, 2000)
    x_mom, _ = run(Momentum(0.9), rosenbrock_grad, [-1.5, 2.0], 1e-3, 2000)
    assert np.linalg.norm(x_mom - 1) < 1e-3
    assert np.linalg.norm(x_gd - 1) > 0.1


# ---- element-wise contract ----------------------------------------------------------------
@pytest.mark.parametrize("opt", ALL, ids=ALL_IDS)
def test_batch_of_starts_equals_per_row_runs(opt):
    rng = np.random.default_rng(0)
    starts = rng.uniform(-2, 2, size=(5, 2))
    batch, _ = run(opt, rosenbrock_grad, starts, 1e-4, 40)
    rows = np.stack([run(opt, rosenbrock_grad, s, 1e-4, 40)[0] for s in starts])
    np.testing.assert_array_equal(batch, rows)
    assert not np.array_equal(batch, starts)


@pytest.mark.parametrize("opt", ALL, ids=ALL_IDS)
def test_per_row_learning_rates_broadcast(opt):
    starts = np.array([[-1.0, 1.5], [0.5, -0.5], [1.5, 2.0]])
    lrs = np.array([[1e-4], [3e-4], [5e-5]])
    batch, _ = run(opt, rosenbrock_grad, starts, lrs, 20)
    rows = np.stack(
        [run(opt, rosenbrock_grad, s, float(r[0]), 20)[0] for s, r in zip(starts, lrs, strict=True)]
    )
    np.testing.assert_allclose(batch, rows, rtol=1e-15, atol=0)


@pytest.mark.parametrize("opt", ALL, ids=ALL_IDS)
def test_matrix_params(opt):
    # a (n_features, K) weight matrix: each entry evolves on its own
    W = np.arange(6.0).reshape(3, 2) - 2.5
    x, state = run(opt, lambda w: 2 * w, W, 0.01, 5)
    flat, _ = run(opt, lambda w: 2 * w, W.ravel(), 0.01, 5)
    np.testing.assert_array_equal(x, flat.reshape(3, 2))
    assert all(v.shape == W.shape for k, v in state.items() if k != "count")


@pytest.mark.parametrize("opt", ALL, ids=ALL_IDS)
def test_float32_stays_float32(opt):
    p = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    state = opt.init(p)
    g = (2.0 * p).astype(np.float64)  # a float64 gradient is cast to the params' dtype
    for _ in range(3):
        updates, state = opt.update(g, state, p, np.float64(0.01))
        p = p + updates
        assert updates.dtype == np.float32
        assert p.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in state.items() if k != "count")
    p64, _ = run(opt, lambda x: 2.0 * x, np.array([[1.0, -2.0], [0.5, 3.0]]), 0.01, 3)
    assert p64.dtype == np.float64


@pytest.mark.parametrize("opt", ALL, ids=ALL_IDS)
def test_update_does_not_mutate_inputs(opt):
    p = np.array([1.0, -2.0, 0.5])
    g = np.array([0.3, -0.1, 2.0])
    state = opt.init(p)
    _, state = opt.update(g, state, p, 0.1)  # make every buffer non-zero
    before = {k: v.copy() for k, v in state.items()}
    p0, g0 = p.copy(), g.copy()
    _, new_state = opt.update(g, state, p, 0.1)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(g, g0)
    for k in before:
        np.testing.assert_array_equal(state[k], before[k])
        assert new_state[k] is not state[k]


@pytest.mark.parametrize("opt", ALL, ids=ALL_IDS)
def test_state_roundtrips_through_npz(opt, tmp_path):
    x0 = np.array([[-1.2, 1.0], [0.3, 0.7]])
    lr = 2e-4
    full, full_state = run(opt, rosenbrock_grad, x0, lr, 30)
    x, state = run(opt, rosenbrock_grad, x0, lr, 12)
    np.savez(tmp_path / "state.npz", params=x, **state)
    with np.load(tmp_path / "state.npz", allow_pickle=False) as data:
        x = data["params"]
        state = {k: data[k] for k in data.files if k != "params"}
    assert state["count"].shape == () and int(state["count"]) == 12
    for _ in range(18):
        u, state = opt.update(rosenbrock_grad(x), state, x, lr)
        x = x + u
    np.testing.assert_array_equal(x, full)
    assert set(state) == set(full_state)


# ---- hyperparameters, names, messages ----------------------------------------------------
@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: Adam(beta1=1.0), ValueError,
         "The 'beta1' parameter of Adam must be a float in the range [0.0, 1.0). Got 1.0 instead."),
        (lambda: AdamW(beta2=-0.1), ValueError,
         "The 'beta2' parameter of AdamW must be a float in the range [0.0, 1.0). Got -0.1"),
        (lambda: Adam(eps=0.0), ValueError,
         "The 'eps' parameter of Adam must be a float in the range (0.0, inf). Got 0.0 instead."),
        (lambda: Adam(eps="small"), TypeError, "The 'eps' parameter of Adam must be a float"),
        (lambda: Adam(amsgrad="yes"), ValueError,
         "The 'amsgrad' parameter of Adam must be one of {False, True}. Got 'yes' instead."),
        (lambda: Adagrad(lr_decay=-1), ValueError,
         "The 'lr_decay' parameter of Adagrad must be a float in the range [0.0, inf). Got -1"),
        (lambda: RMSprop(alpha=1.5), ValueError, "The 'alpha' parameter of RMSprop"),
        (lambda: RMSprop(momentum=-0.5), ValueError, "The 'momentum' parameter of RMSprop"),
        (lambda: Momentum(beta=1.0), ValueError,
         "The 'beta' parameter of Momentum must be a float in the range [0.0, 1.0). Got 1.0"),
        (lambda: Nesterov(beta=2), ValueError, "The 'beta' parameter of Nesterov"),
        (lambda: Momentum(form="keras"), ValueError,
         "The 'form' parameter of Momentum must be one of {'lesson', 'torch'}. Got 'keras'"),
        (lambda: Momentum(dampening=0.1), ValueError, "only defined for form='torch'"),
        (lambda: Momentum(form="torch", dampening=0.1, nesterov=True), ValueError,
         "requires dampening=0"),
        (lambda: SGD(nesterov=True), ValueError, "requires a momentum > 0"),
        (lambda: SGD(weight_decay=-1e-3), ValueError, "The 'weight_decay' parameter of SGD"),
    ],
)
def test_bad_hyperparameters(make, exc, message):
    with pytest.raises(exc) as info:
        make()
    assert message in str(info.value)


def test_gradient_shape_mismatch():
    opt = Adam()
    state = opt.init(np.zeros(3))
    with pytest.raises(ValueError, match=r"gradient given to Adam.update has shape \(2,\)"):
        opt.update(np.zeros(2), state, np.zeros(3), 0.1)


def test_get_optimizer_names_and_objects():
    assert set(OPTIMIZERS) == {
        "gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"
    }
    for name, cls in OPTIMIZERS.items():
        assert type(get_optimizer(name.upper())) is cls
    assert get_optimizer("adam", beta1=0.5) == Adam(beta1=0.5)
    assert get_optimizer(RMSprop, centered=True) == RMSprop(centered=True)
    opt = Momentum(0.8)
    assert get_optimizer(opt) is opt
    with pytest.raises(ValueError) as info:
        get_optimizer("adamax")
    assert "Unknown optimizer 'adamax'" in str(info.value)
    assert "'gd', 'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'" in str(
        info.value
    )
    with pytest.raises(TypeError, match="given together with the optimizer object"):
        get_optimizer(opt, beta=0.5)
    with pytest.raises(ValueError, match="Got 3 of type int instead"):
        get_optimizer(3)


def test_repr_and_get_params():
    assert repr(Adam()) == (
        "Adam(beta1=0.9, beta2=0.999, eps=1e-08, amsgrad=False, weight_decay=0.0)"
    )
    assert repr(GD()) == "GD()"
    assert AdamW().get_params()["weight_decay"] == 0.01
    assert Nesterov(0.8).get_params() == {"beta": 0.8, "form": "lesson", "weight_decay": 0.0}
    assert SGD(momentum=0.9).get_params() == {
        "momentum": 0.9, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0
    }
    assert isinstance(Momentum(0).beta, float)
    for opt in ALL:
        assert isinstance(opt, Optimizer)
        assert eval(repr(opt)) == opt  # repr round-trips the settings


def test_state_field_names():
    p = np.zeros(2)
    assert set(Momentum().init(p)) == {"count", "velocity"}
    assert set(Momentum(form="torch").init(p)) == {"count", "mu"}
    assert set(Adagrad().init(p)) == {"count", "sum"}
    assert set(RMSprop(centered=True, momentum=0.9).init(p)) == {
        "count", "nu", "mu", "momentum_buffer"
    }
    assert set(Adam(amsgrad=True).init(p)) == {"count", "mu", "nu", "nu_max"}
    np.testing.assert_array_equal(Adagrad(initial_accumulator_value=0.1).init(p)["sum"], [0.1, 0.1])
