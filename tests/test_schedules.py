"""Learning-rate schedules against torch.optim.lr_scheduler, scikit-learn's rule, and by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gdlab.core.schedules import (
    SCHEDULES,
    Constant,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    DynamicLR,
    ExponentialLR,
    InverseTimeLR,
    LambdaLR,
    LinearWarmup,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    StepLR,
    get_schedule,
)

N = 100
BASE = 0.3


def ours(schedule, n=N, lr=BASE):
    return np.array([schedule(t, lr) for t in range(n)])


def torch_lrs(make, n=N, lr=BASE, momentum=0.0):
    """The lr torch uses for update t = 0, 1, ..., n-1 (read before each optimizer step)."""
    torch = pytest.importorskip("torch")
    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
    return np.array(out)


def S():
    torch = pytest.importorskip("torch")
    return torch.optim.lr_scheduler


TORCH_CASES = [
    ("step", StepLR(7, gamma=0.5), lambda o: S().StepLR(o, 7, gamma=0.5)),
    ("step-default", StepLR(10), lambda o: S().StepLR(o, 10)),
    ("multistep", MultiStepLR([60, 10, 30]), lambda o: S().MultiStepLR(o, [10, 30, 60])),
    ("multistep-dup", MultiStepLR([20, 20, 50], 0.5),
     lambda o: S().MultiStepLR(o, [20, 20, 50], 0.5)),
    ("exponential", ExponentialLR(0.95), lambda o: S().ExponentialLR(o, 0.95)),
    ("polynomial", PolynomialLR(80, power=2.0),
     lambda o: S().PolynomialLR(o, total_iters=80, power=2.0)),
    ("polynomial-linear", PolynomialLR(50), lambda o: S().PolynomialLR(o, total_iters=50)),
    ("cosine", CosineAnnealingLR(40, eta_min=0.01),
     lambda o: S().CosineAnnealingLR(o, T_max=40, eta_min=0.01)),
    ("cosine-rest", CosineAnnealingWarmRestarts(10),
     lambda o: S().CosineAnnealingWarmRestarts(o, T_0=10)),
    ("cosine-rest-mult", CosineAnnealingWarmRestarts(5, T_mult=2, eta_min=0.001),
     lambda o: S().CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001)),
    ("onecycle", OneCycleLR(N), lambda o: S().OneCycleLR(o, max_lr=BASE, total_steps=N)),
    ("onecycle-linear", OneCycleLR(N, pct_start=0.25, anneal_strategy="linear", div_factor=10,
                                   final_div_factor=100),
     lambda o: S().OneCycleLR(o, max_lr=BASE, total_steps=N, pct_start=0.25,
                              anneal_strategy="linear", div_factor=10, final_div_factor=100)),
    ("onecycle-three", OneCycleLR(N, pct_start=0.2, three_phase=True),
     lambda o: S().OneCycleLR(o, max_lr=BASE, total_steps=N, pct_start=0.2, three_phase=True)),
    ("lambda", LambdaLR(lambda t: 1.0 / (1.0 + 0.1 * t)),
     lambda o: S().LambdaLR(o, lambda t: 1.0 / (1.0 + 0.1 * t))),
    ("warmup-constant", LinearWarmup(10, start_factor=0.1),
     lambda o: S().SequentialLR(o, [S().LinearLR(o, 0.1, 1.0, total_iters=10),
                                    S().ConstantLR(o, factor=1.0, total_iters=0)], [10])),
    ("warmup-cosine", LinearWarmup(10, then=CosineAnnealingLR(90)),
     lambda o: S().SequentialLR(o, [S().LinearLR(o, 1 / 3, 1.0, total_iters=10),
                                    S().CosineAnnealingLR(o, T_max=90)], [10])),
    ("warmup-exponential", LinearWarmup(5, start_factor=0.5, then=ExponentialLR(0.97)),
     lambda o: S().SequentialLR(o, [S().LinearLR(o, 0.5, 1.0, total_iters=5),
                                    S().ExponentialLR(o, 0.97)], [5])),
]


@pytest.mark.torch
@pytest.mark.parametrize(("schedule", "make"), [c[1:] for c in TORCH_CASES],
                         ids=[c[0] for c in TORCH_CASES])
def test_matches_torch_scheduler(schedule, make):
    # OneCycleLR cycles momentum by default and needs an optimizer that has one
    expected = torch_lrs(make, momentum=0.9)
    got = ours(schedule)
    # torch updates most rates recursively (lr *= ratio), ours are closed forms: agree to
    # 1e-12 relative; the atol covers rates that reach exactly 0 (PolynomialLR)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert len(set(np.round(got, 12))) > 1  # the schedule moved


@pytest.mark.torch
def test_cosine_matches_torch_past_t_max():
    # documented: like torch, the cosine keeps going after T_max
    got = ours(CosineAnnealingLR(30))
    expected = torch_lrs(lambda o: S().CosineAnnealingLR(o, T_max=30))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    assert got[30] == pytest.approx(0.0, abs=1e-15) and got[60] == pytest.approx(BASE)


PLATEAU_CASES = [
    dict(),
    dict(patience=2, factor=0.5),
    dict(patience=1, factor=0.5, cooldown=3),
    dict(patience=0, factor=0.3, min_lr=0.01),
    dict(patience=2, threshold=0.05, threshold_mode="abs"),
    dict(mode="max", patience=2, factor=0.5),
    dict(mode="max", patience=1, threshold=0.1, threshold_mode="abs", cooldown=1),
]


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=[str(k) for k in PLATEAU_CASES])
def test_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    # a metric that improves, stalls, improves a little, stalls ...
    metric = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.01 * rng.random(15),
                             np.linspace(0.5, 0.45, 10), 0.45 + 0.02 * rng.random(25)])
    if kwargs.get("mode") == "max":
        metric = -metric
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=BASE)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    sched = ReduceLROnPlateau(**kwargs)
    got, expected = [], []
    for epoch, m in enumerate(metric):
        got.append(sched(epoch, BASE))
        expected.append(opt.param_groups[0]["lr"])
        sched.observe(m)
        ref.step(float(m))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert sched.best == pytest.approx(ref.best)
    assert sched.num_bad_epochs == ref.num_bad_epochs


def test_plateau_by_hand_and_state_dict_roundtrip():
    sched = ReduceLROnPlateau(patience=1, factor=0.5)
    for m in [1.0, 0.9, 0.95, 0.95]:  # two bad epochs > patience 1 -> one reduction
        sched.observe(m)
    assert sched(0, 0.2) == pytest.approx(0.1)
    assert sched(123, 0.2) == pytest.approx(0.1)  # pure in step: only observe changes it
    d = json.loads(json.dumps(sched.state_dict(), allow_nan=False))
    fresh = ReduceLROnPlateau(patience=1, factor=0.5)
    assert fresh(0, 0.2) == 0.2
    fresh.load_state_dict(d)
    assert fresh(0, 0.2) == sched(0, 0.2)
    for m in [0.95, 0.96]:
        sched.observe(m)
        fresh.observe(m)
    assert fresh.state_dict() == sched.state_dict()
    assert fresh(0, 0.2) == pytest.approx(0.05)
    assert ReduceLROnPlateau().state_dict()["best"] is None  # JSON has no inf
    with pytest.raises(ValueError, match="expected"):
        fresh.load_state_dict({"best": 1.0})
    with pytest.raises(ValueError, match="NaN"):
        fresh.observe(float("nan"))


def test_invscaling_matches_sklearn_rule():
    # scikit-learn's SGD: eta = eta0 / t**power_t with t = 1 at the first update
    # (sklearn/linear_model/_sgd_fast.pyx.tp); MLP: lr_init / (time_step + 1) ** power_t
    sched = InverseTimeLR(power_t=0.5)
    for step in range(N):
        t_sklearn = step + 1.0
        assert sched(step, 0.01) == pytest.approx(0.01 / t_sklearn**0.5, rel=1e-15)
    assert InverseTimeLR()(15, 1.0) == pytest.approx(0.5)  # 16 ** -0.25
    assert InverseTimeLR(0.0)(99, 0.3) == 0.3


def test_invscaling_matches_sklearn_sgdregressor():
    # one epoch of SGDRegressor on one sample without intercept: w follows our rates exactly
    sklearn = pytest.importorskip("sklearn.linear_model")
    X = np.ones((1, 1))
    y = np.array([1.0])
    reg = sklearn.SGDRegressor(learning_rate="invscaling", eta0=0.1, power_t=0.25, alpha=0.0,
                               penalty=None, fit_intercept=False, max_iter=5, tol=None,
                               shuffle=False)
    reg.fit(X, y)
    w, sched = 0.0, InverseTimeLR(0.25)
    for step in range(5):  # squared loss 0.5 (w x - y)^2 -> gradient (w - 1)
        w -= sched(step, 0.1) * (w - 1.0)
    assert reg.coef_[0] == pytest.approx(w, rel=1e-12)


def test_dynamic_by_hand():
    sched = DynamicLR(total_steps=10)
    np.testing.assert_allclose(
        ours(sched, n=13, lr=0.5),
        [0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.0, 0.0, 0.0],
        rtol=1e-15, atol=1e-17,
    )


def test_simple_schedules_by_hand():
    assert ours(Constant(), n=3, lr=0.2).tolist() == [0.2, 0.2, 0.2]
    assert ours(StepLR(2, 0.5), n=5, lr=1.0).tolist() == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert ours(MultiStepLR([1, 3], 0.1), n=4, lr=1.0) == pytest.approx([1.0, 0.1, 0.1, 0.01])
    assert ours(PolynomialLR(4, 2.0), n=6, lr=1.0).tolist() == [1.0, 0.5625, 0.25, 0.0625, 0, 0]
    w = LinearWarmup(4, start_factor=0.0, then=StepLR(1, 0.5))
    assert ours(w, n=7, lr=1.0).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.25]
    cyc = ours(CosineAnnealingWarmRestarts(2, T_mult=2), n=8, lr=1.0)
    # cycles of 2, 4, 8 steps: restarts at t = 2 and t = 6
    half_cos = [(1 + math.cos(math.pi * k)) / 2 for k in (1 / 2, 1 / 4, 3 / 4, 1 / 8)]
    expected = [1.0, half_cos[0], 1.0, half_cos[1], 0.5, half_cos[2], 1.0, half_cos[3]]
    np.testing.assert_allclose(cyc, expected, rtol=1e-15)
    one = OneCycleLR(10, pct_start=0.3, div_factor=10, final_div_factor=10)
    assert one(0, 1.0) == pytest.approx(0.1)
    assert one(2, 1.0) == pytest.approx(1.0)  # peak at pct_start * total - 1
    assert one(9, 1.0) == pytest.approx(0.01) and one(50, 1.0) == pytest.approx(0.01)


def test_schedules_are_pure_and_scale_with_lr():
    for sched in [StepLR(3), ExponentialLR(0.9), CosineAnnealingLR(20), OneCycleLR(50),
                  DynamicLR(30), LinearWarmup(5, then=CosineAnnealingLR(10)),
                  LinearWarmup(5, then=CosineAnnealingWarmRestarts(7))]:
        a = ours(sched, n=40, lr=0.1)
        b = ours(sched, n=40, lr=0.1)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(ours(sched, n=40, lr=0.3), 3 * a, rtol=1e-14)


def test_get_schedule():
    assert isinstance(get_schedule(None), Constant)
    assert isinstance(get_schedule("constant"), Constant)
    names = {
        "step": dict(step_size=3), "multistep": dict(milestones=[2]),
        "exponential": dict(gamma=0.9), "invscaling": {}, "polynomial": dict(total_steps=5),
        "cosine": dict(T_max=5), "cosine_restarts": dict(T_0=5), "warmup": dict(warmup_steps=3),
        "onecycle": dict(total_steps=20), "plateau": {}, "lambda": dict(fn=lambda t: 1.0),
        "dynamic": dict(total_steps=5),
    }
    for name, kwargs in names.items():
        assert type(get_schedule(name.upper(), **kwargs)) is SCHEDULES[name]
    assert get_schedule("CosineAnnealingLR", T_max=3) == CosineAnnealingLR(3)
    s = ExponentialLR(0.5)
    assert get_schedule(s) is s

    def fn(step, lr):
        return lr / (1 + step)

    assert get_schedule(fn) is fn
    w = get_schedule("warmup", warmup_steps=2, then=DynamicLR(4))
    assert w(2, 1.0) == 1.0 and w(4, 1.0) == 0.5
    assert get_schedule("warmup", warmup_steps=2, then="invscaling")(17, 1.0) == 0.5
    with pytest.raises(ValueError) as info:
        get_schedule("cosine_annealing")
    assert "Unknown learning-rate schedule 'cosine_annealing'" in str(info.value)
    assert "'step', 'multistep'" in str(info.value)
    with pytest.raises(ValueError, match="Got 0.1 of type float instead"):
        get_schedule(0.1)
    with pytest.raises(TypeError, match="given together with the schedule object"):
        get_schedule(s, gamma=0.1)


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (lambda: StepLR(0), ValueError,
         "The 'step_size' parameter of StepLR must be an int in the range [1, inf). Got 0"),
        (lambda: StepLR(2.5), TypeError, "The 'step_size' parameter of StepLR must be an int"),
        (lambda: ExponentialLR(0.0), ValueError,
         "The 'gamma' parameter of ExponentialLR must be a float in the range (0.0, inf)"),
        (lambda: MultiStepLR(5), TypeError, "must be a list of non-negative ints"),
        (lambda: MultiStepLR([3, -1]), ValueError, "The 'milestones' parameter of MultiStepLR"),
        (lambda: PolynomialLR(0), ValueError, "The 'total_steps' parameter of PolynomialLR"),
        (lambda: CosineAnnealingLR(10, eta_min=-1.0), ValueError, "'eta_min' parameter"),
        (lambda: CosineAnnealingWarmRestarts(10, T_mult=0), ValueError, "'T_mult' parameter"),
        (lambda: LinearWarmup(5, start_factor=-0.5), ValueError, "'start_factor'"),
        (lambda: LinearWarmup(5, then="nope"), ValueError, "Unknown learning-rate schedule"),
        (lambda: OneCycleLR(100, anneal_strategy="exp"), ValueError,
         "The 'anneal_strategy' parameter of OneCycleLR must be one of {'cos', 'linear'}"),
        (lambda: OneCycleLR(100, pct_start=1.0), ValueError, "'pct_start'"),
        (lambda: OneCycleLR(3, pct_start=0.1), ValueError, "phases of OneCycleLR are empty"),
        (lambda: OneCycleLR(100, pct_start=0.6, three_phase=True), ValueError, "out of order"),
        (lambda: ReduceLROnPlateau(mode="minimum"), ValueError, "'mode' parameter"),
        (lambda: ReduceLROnPlateau(factor=1.0), ValueError,
         "The 'factor' parameter of ReduceLROnPlateau must be a float in the range (0.0, 1.0)"),
        (lambda: ReduceLROnPlateau(patience=-1), ValueError, "'patience' parameter"),
        (lambda: LambdaLR(0.5), TypeError, "must be a callable fn(step) -> factor"),
        (lambda: DynamicLR(0), ValueError, "The 'total_steps' parameter of DynamicLR"),
        (lambda: InverseTimeLR(-0.5), ValueError, "'power_t' parameter of InverseTimeLR"),
        (lambda: StepLR(3)(-1, 0.1), ValueError, "The 'step' given to StepLR must be"),
    ],
)
def test_bad_arguments(make, exc, message):
    with pytest.raises(exc) as info:
        make()
    assert message in str(info.value)


def test_repr():
    assert repr(StepLR(5)) == "StepLR(step_size=5, gamma=0.1)"
    assert repr(LinearWarmup(3, 0.5)) == (
        "LinearWarmup(warmup_steps=3, start_factor=0.5, then=Constant())"
    )
