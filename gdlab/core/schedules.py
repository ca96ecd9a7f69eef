"""Learning-rate schedules: ``schedule(step, lr) -> lr_t``.

A schedule is a callable giving the learning rate at step ``t = 0, 1, 2, ...`` for a base
learning rate ``lr`` (which comes from the estimator or minimizer, so the same schedule object
works for any base rate). All schedules here are pure functions of ``(step, lr)`` except
:class:`ReduceLROnPlateau`, which also has ``observe(metric)`` (called once per epoch by the
training loop) and ``state_dict()`` / ``load_state_dict(d)`` (JSON-able) for checkpoints.

Names and formulas follow ``torch.optim.lr_scheduler`` (with ``base_lr = lr`` and ``step`` =
torch's ``last_epoch``); short aliases are accepted by :func:`get_schedule`. Whether ``step``
counts updates or epochs is up to the caller.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Any

from gdlab.core._params import HasParams
from gdlab.core._validation import check_choice

ScheduleFn = Callable[[int, float], float]


class Schedule(HasParams, ABC):
    """Base class: parameter bookkeeping and a checked ``__call__``."""

    __hash__ = None  # type: ignore[assignment]  # unhashable, as typeshed's object allows

    def __call__(self, step: int, lr: float) -> float:
        """Learning rate at step ``step`` (0, 1, 2, ...) for base learning rate ``lr``."""
        if step < 0:
            raise ValueError(
                f"The 'step' given to {type(self).__name__} must be a non-negative int (0 is "
                f"the first step). Got {step!r} instead."
            )
        return float(self._lr(int(step), float(lr)))

    @abstractmethod
    def _lr(self, t: int, lr: float) -> float:
        """The learning rate at step t for base rate lr."""


class Constant(Schedule):
    """The base learning rate at every step: ``lr_t = lr``."""

    def _lr(self, t: int, lr: float) -> float:
        return lr


class StepLR(Schedule):
    """``lr_t = lr * gamma ** (t // step_size)`` (torch's ``StepLR``)."""

    _param_names = ("step_size", "gamma")

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = self._check(step_size, "step_size", kind=int, low=1)
        self.gamma = self._check(gamma, "gamma", low=0.0, closed="neither")

    def _lr(self, t: int, lr: float) -> float:
        return lr * self.gamma ** (t // self.step_size)


class MultiStepLR(Schedule):
    """``lr_t = lr * gamma ** (number of milestones <= t)`` (torch's ``MultiStepLR``).

    Milestones are sorted; a milestone listed twice counts twice, as in torch.
    """

    _param_names = ("milestones", "gamma")

    def __init__(self, milestones: Iterable[int], gamma: float = 0.1) -> None:
        try:
            ms = list(milestones)
        except TypeError:
            raise TypeError(
                "The 'milestones' parameter of MultiStepLR must be a list of non-negative ints, "
                f"e.g. [30, 80]. Got {milestones!r} of type {type(milestones).__name__} instead."
            ) from None
        self.milestones = sorted(
            self._check(m, "milestones", kind=int, low=0) for m in ms
        )
        self.gamma = self._check(gamma, "gamma", low=0.0, closed="neither")

    def _lr(self, t: int, lr: float) -> float:
        return lr * self.gamma ** bisect_right(self.milestones, t)


class ExponentialLR(Schedule):
    """``lr_t = lr * gamma ** t`` (torch's ``ExponentialLR``)."""

    _param_names = ("gamma",)

    def __init__(self, gamma: float) -> None:
        self.gamma = self._check(gamma, "gamma", low=0.0, closed="neither")

    def _lr(self, t: int, lr: float) -> float:
        return lr * self.gamma**t


class InverseTimeLR(Schedule):
    """scikit-learn's ``learning_rate='invscaling'``: ``lr_t = lr / (t + 1) ** power_t``.

    scikit-learn's SGD estimators use ``eta = eta0 / t ** power_t`` with their counter ``t``
    starting at 1 for the first update, so with ``step`` counting updates from 0 the two
    agree. (SGDRegressor's default ``power_t`` is 0.25, SGDClassifier's and MLP's 0.5; MLP
    applies the rule once per epoch with ``t`` = samples seen.)
    """

    _param_names = ("power_t",)

    def __init__(self, power_t: float = 0.25) -> None:
        self.power_t = self._check(power_t, "power_t", low=0.0)

    def _lr(self, t: int, lr: float) -> float:
        return lr / (t + 1) ** self.power_t


class PolynomialLR(Schedule):
    """``lr_t = lr * (1 - min(t, total_steps) / total_steps) ** power`` (torch's
    ``PolynomialLR`` with ``total_iters = total_steps``); 0 from ``total_steps`` on.
    """

    _param_names = ("total_steps", "power")

    def __init__(self, total_steps: int, power: float = 1.0) -> None:
        self.total_steps = self._check(total_steps, "total_steps", kind=int, low=1)
        self.power = self._check(power, "power", low=0.0)

    def _lr(self, t: int, lr: float) -> float:
        return lr * (1.0 - min(t, self.total_steps) / self.total_steps) ** self.power


class CosineAnnealingLR(Schedule):
    """``lr_t = eta_min + (lr - eta_min) * (1 + cos(pi t / T_max)) / 2`` (torch's
    ``CosineAnnealingLR``, closed form).

    As in torch, the cosine keeps going after ``T_max`` (the rate rises again towards ``lr``
    by ``2 T_max``); use :class:`CosineAnnealingWarmRestarts` for restarts, or set ``T_max``
    to the length of the run.
    """

    _param_names = ("T_max", "eta_min")

    def __init__(self, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = self._check(T_max, "T_max", kind=int, low=1)
        self.eta_min = self._check(eta_min, "eta_min", low=0.0)

    def _lr(self, t: int, lr: float) -> float:
        return self.eta_min + (lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class CosineAnnealingWarmRestarts(Schedule):
    """SGDR (torch's ``CosineAnnealingWarmRestarts``): cosine from ``lr`` to ``eta_min`` over
    a cycle of ``T_i`` steps, then restart; ``T_0`` for the first cycle, each next cycle
    ``T_mult`` times longer::

        lr_t = eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
    """

    _param_names = ("T_0", "T_mult", "eta_min")

    def __init__(self, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> None:
        self.T_0 = self._check(T_0, "T_0", kind=int, low=1)
        self.T_mult = self._check(T_mult, "T_mult", kind=int, low=1)
        self.eta_min = self._check(eta_min, "eta_min", low=0.0)

    def _position(self, t: int) -> tuple[int, int]:
        """(T_cur, T_i): steps into the current cycle and its length, in exact integers."""
        if self.T_mult == 1:
            return t % self.T_0, self.T_0
        T_i = self.T_0
        while t >= T_i:  # cycles grow geometrically: O(log t) iterations
            t -= T_i
            T_i *= self.T_mult
        return t, T_i

    def _lr(self, t: int, lr: float) -> float:
        T_cur, T_i = self._position(t)
        return self.eta_min + (lr - self.eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2


class LinearWarmup(Schedule):
    """Linear warm-up, then any schedule.

    For ``t < warmup_steps``: ``lr_t = lr * (start_factor + (1 - start_factor) t /
    warmup_steps)``; afterwards ``lr_t = then(t - warmup_steps, lr)``. Equal to torch's
    ``SequentialLR([LinearLR(start_factor, 1.0, warmup_steps), then], [warmup_steps])``. The
    default ``start_factor = 1/3`` is torch's ``LinearLR`` default.

    Parameters
    ----------
    warmup_steps : int >= 1
    start_factor : float in [0, 1], default 1/3
        0 starts from a zero rate (torch's LinearLR needs > 0).
    then : schedule, name or None, default None (constant)
        Anything :func:`get_schedule` accepts; it sees ``step - warmup_steps``.
    """

    _param_names = ("warmup_steps", "start_factor", "then")

    def __init__(
        self, warmup_steps: int, start_factor: float = 1.0 / 3.0, then: Any = None
    ) -> None:
        self.warmup_steps = self._check(warmup_steps, "warmup_steps", kind=int, low=1)
        self.start_factor = self._check(
            start_factor, "start_factor", low=0.0, high=1.0
        )
        self.then = get_schedule(then)

    def _lr(self, t: int, lr: float) -> float:
        if t < self.warmup_steps:
            return lr * (self.start_factor + (1.0 - self.start_factor) * t / self.warmup_steps)
        return self.then(t - self.warmup_steps, lr)


class OneCycleLR(Schedule):
    """The 1cycle policy (torch's ``OneCycleLR``) with ``max_lr = lr``.

    Starts at ``lr / div_factor``, rises to ``lr`` over the first ``pct_start * total_steps``
    steps, then anneals to ``lr / div_factor / final_div_factor`` at step
    ``total_steps - 1`` (with ``three_phase``: back down to ``lr / div_factor`` first, then to
    the minimum). Annealing is cosine (``end + (start - end) (1 + cos(pi pct)) / 2``) or linear.
    Steps from ``total_steps`` on keep the final rate (torch raises instead). Momentum is not
    cycled: schedules set only the learning rate.
    """

    _param_names = (
        "total_steps", "pct_start", "anneal_strategy", "div_factor", "final_div_factor",
        "three_phase",
    )

    def __init__(
        self,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        owner = type(self).__name__
        self.total_steps = self._check(total_steps, "total_steps", kind=int, low=2)
        self.pct_start = self._check(pct_start, "pct_start", low=0.0, high=1.0, closed="neither")
        self.anneal_strategy = check_choice(
            anneal_strategy, "anneal_strategy", ("cos", "linear"), owner=owner
        )
        self.div_factor = self._check(div_factor, "div_factor", low=0.0, closed="neither")
        self.final_div_factor = self._check(
            final_div_factor, "final_div_factor", low=0.0, closed="neither"
        )
        self.three_phase = check_choice(three_phase, "three_phase", (False, True), owner=owner)
        n = self.total_steps
        if self.three_phase:
            ends = [pct_start * n - 1, 2 * pct_start * n - 2, float(n - 1)]
        else:
            ends = [pct_start * n - 1, float(n - 1)]
        if not (ends[0] > 0 and all(a < b for a, b in zip(ends[:-1], ends[1:], strict=True))):
            raise ValueError(
                f"The phases of {owner} are empty or out of order for total_steps={n} and "
                f"pct_start={pct_start!r} (phase ends {ends}). Use more steps or a pct_start "
                "further from 0 and 1 (below 0.5 with three_phase=True)."
            )
        self._ends = ends

    def _lr(self, t: int, lr: float) -> float:
        initial = lr / self.div_factor
        final = initial / self.final_div_factor
        targets = [(initial, lr), (lr, initial), (initial, final)] if self.three_phase else [
            (initial, lr), (lr, final)
        ]
        if t >= self.total_steps - 1:
            return final
        start_step = 0.0
        for i, end_step in enumerate(self._ends):
            if t <= end_step or i == len(self._ends) - 1:
                pct = (t - start_step) / (end_step - start_step)
                a, b = targets[i]
                if self.anneal_strategy == "cos":
                    return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
                return (b - a) * pct + a
            start_step = end_step
        raise AssertionError("unreachable")  # pragma: no cover


class LambdaLR(Schedule):
    """``lr_t = lr * fn(t)`` (torch's ``LambdaLR``)."""

    _param_names = ("fn",)

    def __init__(self, fn: Callable[[int], float]) -> None:
        if not callable(fn):
            raise TypeError(
                f"The 'fn' parameter of LambdaLR must be a callable fn(step) -> factor, e.g. "
                f"lambda t: 0.95 ** t. Got {fn!r} of type {type(fn).__name__} instead."
            )
        self.fn = fn

    def _lr(self, t: int, lr: float) -> float:
        return lr * float(self.fn(t))


class DynamicLR(Schedule):
    """The lessons' "dynamic" learning rate, time-based: ``lr_t = lr * (1 - t / total_steps)``.

    The rate falls linearly from ``lr`` at step 0 towards 0 at ``total_steps`` and stays 0
    after (never negative). It is the "fixed vs dynamic learning rate" code challenge of the
    deep-learning lessons (Mike X Cohen's course); the other variant there, a step size
    proportional to the gradient's magnitude, depends on the gradient and so is not a
    schedule: :mod:`gdlab.functions.descent` offers it.
    """

    _param_names = ("total_steps",)

    def __init__(self, total_steps: int) -> None:
        self.total_steps = self._check(total_steps, "total_steps", kind=int, low=1)

    def _lr(self, t: int, lr: float) -> float:
        return lr * max(0.0, 1.0 - t / self.total_steps)


class ReduceLROnPlateau(Schedule):
    """Divide the rate by ``1 / factor`` when a metric stops improving (torch's rule).

    Call ``observe(metric)`` once per epoch; ``schedule(step, lr)`` returns
    ``max(lr * factor ** k, min_lr)`` after ``k`` reductions (``lr`` before the first). A
    metric improves when (mode 'min') ``m < best * (1 - threshold)`` ('rel') or
    ``m < best - threshold`` ('abs'), mirrored for 'max'. After more than ``patience``
    epochs without improvement the rate is reduced, the count restarts and ``cooldown``
    epochs follow during which bad epochs are not counted. As in torch, a reduction that would
    change the rate by at most ``eps`` is skipped (judged with the last ``lr`` the schedule
    was called with). ``state_dict()`` / ``load_state_dict()`` save and restore all counters
    as JSON-able values.
    """

    _param_names = (
        "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"
    )

    def __init__(
        self,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        owner = type(self).__name__
        self.mode = check_choice(mode, "mode", ("min", "max"), owner=owner)
        self.factor = self._check(factor, "factor", low=0.0, high=1.0, closed="neither")
        self.patience = self._check(patience, "patience", kind=int, low=0)
        self.threshold = self._check(threshold, "threshold", low=0.0)
        self.threshold_mode = check_choice(
            threshold_mode, "threshold_mode", ("rel", "abs"), owner=owner
        )
        self.cooldown = self._check(cooldown, "cooldown", kind=int, low=0)
        self.min_lr = self._check(min_lr, "min_lr", low=0.0)
        self.eps = self._check(eps, "eps", low=0.0)
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None  # None: nothing observed yet (torch's +-inf)
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.n_reductions = 0
        self.scale = 1.0
        self.n_observed = 0
        self.last_lr: float | None = None

    def _is_better(self, m: float) -> bool:
        if self.best is None:
            return True
        best, th = self.best, self.threshold
        if self.mode == "min":
            return m < best * (1.0 - th) if self.threshold_mode == "rel" else m < best - th
        return m > best * (th + 1.0) if self.threshold_mode == "rel" else m > best + th

    def observe(self, metric: float) -> None:
        """Record one epoch's metric (e.g. the validation loss) and maybe reduce the rate."""
        m = float(metric)
        if math.isnan(m):
            raise ValueError(
                "The metric given to ReduceLROnPlateau.observe is NaN; pass a finite value "
                "(check the loss for divergence first)."
            )
        self.n_observed += 1
        if self._is_better(m):
            self.best = m
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def _reduce(self) -> None:
        new_scale = self.scale * self.factor
        if self.last_lr is not None:
            old = self._lr(0, self.last_lr)
            new = max(self.last_lr * new_scale, self.min_lr)
            if old - new <= self.eps:
                return
        self.scale = new_scale
        self.n_reductions += 1

    def _lr(self, t: int, lr: float) -> float:
        self.last_lr = lr
        if self.n_reductions == 0:
            return lr
        return max(lr * self.scale, self.min_lr)

    def state_dict(self) -> dict[str, Any]:
        """The counters as a JSON-able dict (``best`` is None before the first metric)."""
        return {
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
            "n_reductions": self.n_reductions,
            "scale": self.scale,
            "n_observed": self.n_observed,
            "last_lr": self.last_lr,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore counters saved by :meth:`state_dict`."""
        expected = set(self.state_dict())
        if set(d) != expected:
            raise ValueError(
                f"The state given to ReduceLROnPlateau.load_state_dict has keys {sorted(d)}, "
                f"expected {sorted(expected)}; pass a dict made by state_dict()."
            )
        self.best = None if d["best"] is None else float(d["best"])
        self.num_bad_epochs = int(d["num_bad_epochs"])
        self.cooldown_counter = int(d["cooldown_counter"])
        self.n_reductions = int(d["n_reductions"])
        self.scale = float(d["scale"])
        self.n_observed = int(d["n_observed"])
        self.last_lr = None if d["last_lr"] is None else float(d["last_lr"])


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": StepLR,
    "multistep": MultiStepLR,
    "exponential": ExponentialLR,
    "invscaling": InverseTimeLR,
    "polynomial": PolynomialLR,
    "cosine": CosineAnnealingLR,
    "cosine_restarts": CosineAnnealingWarmRestarts,
    "warmup": LinearWarmup,
    "onecycle": OneCycleLR,
    "plateau": ReduceLROnPlateau,
    "lambda": LambdaLR,
    "dynamic": DynamicLR,
}


def get_schedule(spec: Any = None, **kwargs: Any) -> Any:
    """Turn None, a name or a schedule object into a schedule.

    Parameters
    ----------
    spec : None, str, Schedule subclass or callable
        None or ``"constant"``: :class:`Constant`. A name from :data:`SCHEDULES`
        (case-insensitive; class names such as ``"CosineAnnealingLR"`` work too) builds that
        class with ``**kwargs``. A callable ``schedule(step, lr) -> float`` (any object
        following the contract) is returned unchanged.

    Returns
    -------
    schedule : callable (step, lr) -> float
    """
    if spec is None:
        return Constant(**kwargs)
    if isinstance(spec, str):
        key = spec.strip().lower()
        by_class = {cls.__name__.lower(): cls for cls in SCHEDULES.values()}
        cls = SCHEDULES.get(key) or by_class.get(key)
        if cls is None:
            valid = ", ".join(repr(k) for k in SCHEDULES)
            raise ValueError(
                f"Unknown learning-rate schedule {spec!r}. Valid names are {valid} (or the "
                "class names, e.g. 'CosineAnnealingLR'), None for a constant rate, or a "
                "callable schedule(step, lr) -> lr."
            )
        return cls(**kwargs)
    if isinstance(spec, type) and issubclass(spec, Schedule):
        return spec(**kwargs)
    if callable(spec) and not isinstance(spec, type):
        if kwargs:
            raise TypeError(
                f"Settings {sorted(kwargs)} were given together with the schedule object "
                f"{spec!r}; set them when creating the object, or pass a name instead."
            )
        return spec
    valid = ", ".join(repr(k) for k in SCHEDULES)
    raise ValueError(
        f"The learning-rate schedule must be None, a name ({valid}) or a callable "
        f"schedule(step, lr) -> lr. Got {spec!r} of type {type(spec).__name__} instead."
    )


__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "DynamicLR",
    "ExponentialLR",
    "InverseTimeLR",
    "LambdaLR",
    "LinearWarmup",
    "MultiStepLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "Schedule",
    "ScheduleFn",
    "StepLR",
    "get_schedule",
]


def horizon_defaults(key: str, steps: int) -> dict[str, Any]:
    """Settings for a schedule named without them, scaled to the run's length."""
    n = max(int(steps), 1)
    table: dict[str, dict[str, Any]] = {
        "dynamic": {"total_steps": n}, "dynamiclr": {"total_steps": n},
        "polynomial": {"total_steps": n}, "polynomiallr": {"total_steps": n},
        "onecycle": {"total_steps": n}, "onecyclelr": {"total_steps": n},
        "cosine": {"T_max": n}, "cosineannealinglr": {"T_max": n},
        "cosine_restarts": {"T_0": max(n // 4, 1)},
        "cosineannealingwarmrestarts": {"T_0": max(n // 4, 1)},
        "step": {"step_size": max(n // 3, 1)}, "steplr": {"step_size": max(n // 3, 1)},
        "multistep": {"milestones": [n // 2, (3 * n) // 4]},
        "multisteplr": {"milestones": [n // 2, (3 * n) // 4]},
        # down to 1 % of the base rate at the last step
        "exponential": {"gamma": 0.01 ** (1.0 / n)}, "exponentiallr": {"gamma": 0.01 ** (1.0 / n)},
        "warmup": {"warmup_steps": max(n // 10, 1)},
        "linearwarmup": {"warmup_steps": max(n // 10, 1)},
    }
    return table.get(key, {})


def schedule_for_run(spec: Any, steps: int) -> Any:
    """:func:`get_schedule` for a run of ``steps`` schedule steps: a name given without its
    settings gets them scaled to the run (``"dynamic"``: lr (1 - t/steps), ``"cosine"``:
    T_max = steps, ``"exponential"``: down to 1 % at the end, ``"step"``: x0.1 every third
    of the run, ...). Objects, callables and None are passed to :func:`get_schedule`."""
    if isinstance(spec, str):
        key = spec.strip().lower()
        return get_schedule(key, **horizon_defaults(key, steps))
    return get_schedule(spec)
