"""The one training loop: batches, epochs, history, callbacks, divergence, resumable state.

Full-batch, mini-batch and stochastic descent are values of ``batch_size`` (None, k, 1), not
three loops. A *problem* holds a batch source (:mod:`gdlab.core.sources`: the epoch's order
and each batch's rows) and supplies ``loss_and_grad(theta, rows)``; an optimizer
(:mod:`gdlab.core.optim`) turns gradients into updates; a schedule (:mod:`gdlab.core.schedules`)
gives the learning rate; an engine (:mod:`gdlab.core.engine`) may run the same steps faster;
this module only loops.

Everything the loop needs to continue lives in :class:`TrainState` (parameters, optimizer
state, epoch, position in the epoch's shuffle, generator state, counters, history), so a run
can be checkpointed and resumed bit-identically. The loop never prints: progress bars and
checkpoints are callbacks.
"""

from __future__ import annotations

import copy
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning

from gdlab.core._validation import check_scalar
from gdlab.core.engine import get_engine
from gdlab.core.optim import get_optimizer
from gdlab.core.schedules import get_schedule
from gdlab.core.sources import ArraySource, BatchSource, resolve_batch_size

Array = NDArray[Any]

__all__ = [
    "ConvergenceWarning",
    "DivergenceError",
    "EpochRecord",
    "ModelProblem",
    "Problem",
    "TrainConfig",
    "TrainState",
    "diagnose",
    "run",
]


class DivergenceError(ValueError):
    """Training diverged: a non-finite loss or parameter, or a finite loss that kept growing.

    Attributes: epoch, step, lr, last_finite_loss, losses (the tail of the epoch losses),
    suggested_lr (a smaller rate to try), reason, and params (the last good parameters: those
    of the epoch with the lowest training loss, or the last finite ones).
    """

    def __init__(self, *, epoch: int, step: int, last_finite_loss: float | None, lr: float,
                 params: Array, what: str, losses: Sequence[float] = (),
                 suggested_lr: float | None = None, suggest_scaling: bool = True) -> None:
        self.epoch, self.step, self.lr = epoch, step, lr
        self.last_finite_loss = last_finite_loss
        self.params = params
        self.losses = [float(v) for v in losses]
        self.suggested_lr = lr / 10 if suggested_lr is None else float(suggested_lr)
        self.reason = what
        last = "none yet" if last_finite_loss is None else f"{last_finite_loss:.6g}"
        tail = ", ".join(f"{v:.4g}" for v in self.losses[-6:]) or "none yet"
        what_text = (f"the {what} became non-finite" if what in ("loss or gradient", "parameters")
                     else what)
        scaling = (" or standardize the features (sklearn.preprocessing.StandardScaler)"
                   if suggest_scaling else "")
        super().__init__(
            f"Training diverged at epoch {epoch}, step {step}: {what_text} (last finite loss "
            f"{last}; epoch losses ..., {tail}; learning rate {lr:.6g}). Expected a loss that "
            f"falls. Use a smaller learning rate (e.g. lr={self.suggested_lr:.3g}, or "
            f"lr='auto'){scaling}."
        )


class Problem(Protocol):
    """What the loop trains: a batch source and the loss and gradient over its batches."""

    @property
    def source(self) -> BatchSource:
        """Where the batches come from (:mod:`gdlab.core.sources`)."""
        ...

    def loss_and_grad(self, theta: Array, rows: Array | None) -> tuple[float, Array]:
        """Loss and gradient over the batch's rows (None: all rows), gradient of theta's shape."""
        ...


@dataclass
class ModelProblem:
    """A model (:mod:`gdlab.core.models`) on a batch source, with an optional L2 penalty.

    ``loss_and_grad(theta, rows)`` is the mean data term over the batch's rows (from the
    engine when one serves the case, from the model otherwise) plus ``model.penalty``; a
    batch whose rows all have zero weight gives a zero step.

    engine : 'auto', 'numpy', a registered name or an engine object (:mod:`gdlab.core.engine`).
    """

    model: Any
    source: Any
    alpha: float = 0.0
    engine: Any = "auto"

    @classmethod
    def from_arrays(cls, model: Any, X: Array, y: Array, sample_weight: Array | None = None,
                    alpha: float = 0.0, engine: Any = "auto") -> ModelProblem:
        """A problem on rows in memory: X (n_samples, n_features), y (n_samples,) or
        (n_samples, K), sample_weight (n_samples,) or None."""
        return cls(model, ArraySource(X, y, sample_weight), alpha, engine)

    def __post_init__(self) -> None:
        # validate the targets once; each step then takes the unchecked path
        if isinstance(self.source, ArraySource):
            self.source.y = self.model.check_targets(self.source.y, self.source.n_samples)
        self.engine = get_engine(self.engine)

    @property
    def n_samples(self) -> int:
        return int(self.source.n_samples)

    def data_term(self, theta: Array, X: Array, y: Array, w: Array | None
                  ) -> tuple[float, Array]:
        """Mean loss and gradient over the rows (X, y, w), without the penalty."""
        if self.engine is not None:
            out = self.engine.loss_and_grad(self.model, theta, X, y, w)
            if out is not None:
                return out
        return self.model.loss_and_grad_checked(theta, X, y, sample_weight=w)

    def loss_and_grad(self, theta: Array, rows: Array | None) -> tuple[float, Array]:
        out = self.source.loss_and_grad(self.data_term, theta, rows)
        if out is None:
            return 0.0, np.zeros_like(theta)
        loss, grad = out
        if self.alpha:
            p_loss, p_grad = self.model.penalty(theta, self.alpha)
            loss, grad = loss + p_loss, grad + p_grad
        return loss, grad


@dataclass
class EpochRecord:
    """One row of the history: what happened in one epoch."""

    epoch: int
    loss: float
    lr: float
    grad_norm: float
    seconds: float
    steps: int
    val_loss: float | None = None
    val_score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainConfig:
    """Settings of a run (hyperparameters of the loop, not of the model).

    batch_size : None (full batch), k (mini-batch) or 1 (stochastic).
    schedule_unit : 'epoch' (the schedule's step is the epoch index) or 'step' (optimizer steps).
    tol, n_iter_no_change : the stopping test, relative. A full-batch epoch passes when its
        training loss differs from the previous epoch's by at most
        ``tol * max(|previous|, 0.01 |first epoch's|)`` (in either direction: a loss still
        falling or oscillating fails). A mini-batch epoch (its
        loss is noisy), or with a validation function the validation score, passes when it
        did not beat the best so far by more than ``tol * |best|``. The run has converged
        (``converged``, stopped_by 'converged') when n_iter_no_change epochs in a row passed.
        tol=None: no test, every epoch runs.
    restore_best : put back the parameters of the best monitored epoch when stopping.
    divergence_ratio, divergence_epochs : the finite divergence test. The run diverges when an
        epoch's training loss exceeds divergence_ratio times the first epoch's, or when the
        loss is above the first epoch's and rose in each of the last divergence_epochs epochs.
        None turns either rule off. divergence_start: the index in the history of that first
        epoch (a warm-started fit compares with its own first epoch).
    auto_lr : the data-derived rate (lr='auto'), suggested in divergence and warning messages;
        a callable is asked only when a message needs it.
    suggest_scaling : whether a DivergenceError also suggests standardizing the features (the
        estimators say so only when the columns' scales are large or far apart); a callable
        is asked only when a message needs it.
    owner : the name messages give the run (an estimator's class name).
    """

    optimizer: Any = "adam"
    lr: float = 0.01
    schedule: Any = None
    batch_size: int | None = None
    epochs: int = 100
    shuffle: bool = True
    schedule_unit: str = "epoch"
    tol: float | None = 1e-4
    n_iter_no_change: int = 5
    restore_best: bool = False
    warn_on_no_convergence: bool = True
    divergence_ratio: float | None = 10.0
    divergence_epochs: int | None = 5
    divergence_start: int = 0
    auto_lr: float | Callable[[], float | None] | None = None
    owner: str = "train"
    suggest_scaling: bool | Callable[[], bool] = True

    def validate(self, owner: str | None = None) -> None:
        owner = self.owner if owner is None else owner
        check_scalar(self.lr, "lr", low=0.0, closed="neither", owner=owner)
        check_scalar(self.epochs, "epochs", kind=int, low=1, owner=owner)
        check_scalar(self.batch_size, "batch_size", kind=int, low=1, owner=owner, allow_none=True)
        check_scalar(self.tol, "tol", low=0.0, owner=owner, allow_none=True)
        check_scalar(self.n_iter_no_change, "n_iter_no_change", kind=int, low=1, owner=owner)
        check_scalar(self.divergence_ratio, "divergence_ratio", low=1.0, closed="neither",
                     owner=owner, allow_none=True)
        check_scalar(self.divergence_epochs, "divergence_epochs", kind=int, low=1, owner=owner,
                     allow_none=True)
        if self.schedule_unit not in ("epoch", "step"):
            raise ValueError(f"The 'schedule_unit' parameter of {owner} must be 'epoch' or "
                             f"'step'. Got {self.schedule_unit!r} instead.")


@dataclass
class TrainState:
    """Everything needed to continue a run exactly where it stopped."""

    theta: Array
    opt_state: dict[str, Array]
    rng: np.random.Generator
    epoch: int = 0
    step: int = 0
    batch_index: int = 0
    order: Array | None = None
    epoch_loss_sum: float = 0.0
    epoch_weight: float = 0.0
    epoch_grad_norm_sum: float = 0.0
    epoch_steps: int = 0
    epoch_seconds: float = 0.0
    best_value: float = math.inf
    best_epoch: int = -1
    best_theta: Array | None = None
    no_improve: int = 0
    last_finite_loss: float | None = None
    # parameters at the start of the epoch with the lowest training loss (the last good ones)
    good_theta: Array | None = None
    good_loss: float = math.inf
    epoch_start_theta: Array | None = None
    converged: bool = False
    stopped_by: str | None = None
    schedule_state: dict[str, Any] | None = None
    history: list[EpochRecord] = field(default_factory=list)

    @classmethod
    def start(cls, theta: Array, optimizer: Any, random_state: Any = None) -> TrainState:
        """A fresh state: theta copied, optimizer state initialized, a seeded generator."""
        theta = np.array(theta, copy=True)
        return cls(theta=theta, opt_state=get_optimizer(optimizer).init(theta),
                   rng=np.random.default_rng(random_state))


def _finite(a: Array) -> bool:
    return bool(np.isfinite(a).all())


def run(
    problem: Problem,
    state: TrainState,
    config: TrainConfig,
    *,
    validation: Callable[[Array], tuple[float, float]] | None = None,
    callbacks: Sequence[Callable[[TrainState, EpochRecord], bool | None]] = (),
    step_callbacks: Sequence[Callable[[TrainState], None]] = (),
    schedule: Any = None,
) -> TrainState:
    """Train until ``config.epochs`` epochs, convergence, or a callback asks to stop.

    Parameters
    ----------
    problem : Problem
        ``loss_and_grad(theta, idx)`` and ``n_samples``.
    state : TrainState
        Where to start (``TrainState.start(...)``) or continue (a restored checkpoint).
        It is updated in place and returned.
    config : TrainConfig
    validation : callable theta -> (val_loss, val_score), optional
        Called after each epoch; with it, convergence monitors the validation score
        (higher is better) instead of the training loss.
    callbacks : callables (state, record) -> bool | None, after each epoch; True stops.
    step_callbacks : callables (state) -> None, after each optimizer step.
    schedule : a schedule object to use instead of ``get_schedule(config.schedule)`` (pass the
        same object across calls to keep a stateful schedule such as ReduceLROnPlateau).

    Raises
    ------
    DivergenceError
        On a non-finite loss, gradient or parameter; ``state.theta`` keeps the last finite
        parameters.
    """
    config.validate()
    optimizer = get_optimizer(config.optimizer)
    sched = get_schedule(config.schedule) if schedule is None else schedule
    if state.schedule_state is not None and hasattr(sched, "load_state_dict"):
        sched.load_state_dict(state.schedule_state)
    source = problem.source
    bs = resolve_batch_size(config.batch_size, source.n_samples)
    n_batches = source.n_batches(bs)
    theta = state.theta
    # whole epochs run by an engine when it serves the case; the loop below stays the
    # reference and finishes any epoch the engine stops early
    engine = getattr(problem, "engine", None)
    fast = (engine.epoch_runner(problem, optimizer, config, step_callbacks)
            if engine is not None else None)

    lr_t = float(config.lr)
    while state.epoch < config.epochs and state.stopped_by is None:
        t0 = time.perf_counter()
        if state.batch_index == 0:
            state.epoch_start_theta = theta.copy()
            state.order = source.epoch_order(state.rng, bs, config.shuffle)
            if fast is not None:
                lr_t = float(sched(state.epoch, config.lr))
                fast.run_epoch(state, lr_t)
                theta = state.theta
        for bi in range(state.batch_index, n_batches):
            idx = source.batch_rows(state.order, bi, bs)
            t_sched = state.step if config.schedule_unit == "step" else state.epoch
            lr_t = float(sched(t_sched, config.lr))
            with np.errstate(over="ignore", invalid="ignore"):
                # overflow is detected below and reported as a DivergenceError instead
                loss, grad = problem.loss_and_grad(theta, idx)
            if not (math.isfinite(loss) and _finite(grad)):
                state.theta = theta
                raise _diverged(state, config, lr_t, "loss or gradient")
            with np.errstate(over="ignore", invalid="ignore"):
                updates, opt_state = optimizer.update(grad, state.opt_state, theta, lr_t)
                new_theta = theta + updates
            if not _finite(new_theta):
                state.theta = theta
                state.last_finite_loss = float(loss)
                raise _diverged(state, config, lr_t, "parameters")
            theta, state.opt_state = new_theta, opt_state
            rows = source.n_rows(idx)
            state.theta = theta
            state.last_finite_loss = float(loss)
            state.epoch_loss_sum += float(loss) * rows
            state.epoch_weight += rows
            state.epoch_grad_norm_sum += float(np.sqrt(np.vdot(grad, grad).real))
            state.epoch_steps += 1
            state.step += 1
            state.batch_index = bi + 1
            for cb in step_callbacks:
                cb(state)
        state.epoch_seconds += time.perf_counter() - t0
        _end_epoch(state, config, sched, lr_t, validation, callbacks)

    if config.restore_best and state.best_theta is not None:
        state.theta = state.best_theta.copy()
    if (state.stopped_by is None and config.tol is not None and config.warn_on_no_convergence
            and not state.converged):
        warnings.warn(_not_converged_message(state, config, lr_t), ConvergenceWarning,
                      stacklevel=_caller_stacklevel())
    return state


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside gdlab and scikit-learn (the user's line)."""
    import os

    import sklearn

    gdlab_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inside = (gdlab_dir + os.sep, os.path.dirname(sklearn.__file__ or "") + os.sep)
    frame: Any = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def _diverged(state: TrainState, config: TrainConfig, lr: float, what: str) -> DivergenceError:
    """The DivergenceError of this run; state.theta is put back to the last good parameters."""
    if state.good_theta is not None:
        state.theta = state.good_theta.copy()
    suggested = lr / 10
    auto = _asked(config.auto_lr)
    if auto is not None and auto < lr:
        suggested = auto
    return DivergenceError(epoch=state.epoch, step=state.step, lr=lr,
                           last_finite_loss=state.last_finite_loss, params=state.theta.copy(),
                           what=what, losses=[r.loss for r in state.history[-6:]],
                           suggested_lr=suggested,
                           suggest_scaling=bool(_asked(config.suggest_scaling)))


def _asked(value: Any) -> Any:
    """A config value that may be given as a zero-argument callable (asked when needed)."""
    return value() if callable(value) else value


def _growth(losses: Sequence[float], config: TrainConfig) -> str | None:
    """Why the epoch losses show a diverging run, or None (the finite divergence test)."""
    first, last = losses[0], losses[-1]
    if config.divergence_ratio is not None and last > config.divergence_ratio * abs(first):
        return (f"the loss grew to {last:.4g}, more than {config.divergence_ratio:g} times the "
                f"first epoch's {first:.4g}")
    k = config.divergence_epochs
    if k is not None and len(losses) > k and last > first:
        tail = losses[-k - 1:]
        if all(b > a for a, b in zip(tail, tail[1:], strict=False)):
            return (f"the loss rose in each of the last {k} epochs, to {last:.4g}, above the "
                    f"first epoch's {first:.4g}")
    return None


def diagnose(losses: Sequence[float], window: int = 10, *, lr: float | None = None,
             auto_lr: float | None = None) -> tuple[str, str]:
    """Why a run that hit its epoch limit had not converged, measured on its epoch losses.

    Returns (cause, evidence), cause one of 'lr too large' (the loss went up in at least a
    third of the last ``window`` epochs: it oscillates), 'lr too small' (it fell in the last
    epochs at least half as fast as on average since the first epoch: still in its first,
    straight descent; not when ``lr`` is at least half the data-derived ``auto_lr``) or
    'too few epochs' (still falling, but slowing down, or at a rate near the auto rate).
    """
    losses = [float(v) for v in losses]
    n = len(losses)
    if n < 3:
        return "too few epochs", f"only {n} epoch(s) ran"
    w = min(window, n)
    tail = losses[-w:]
    ups = sum(b > a for a, b in zip(tail, tail[1:], strict=False))
    if ups >= (w - 1) / 3:
        return "lr too large", f"the loss went up in {ups} of the last {w - 1} epochs"
    recent = (tail[0] - tail[-1]) / (w - 1)
    overall = (losses[0] - losses[-1]) / (n - 1)
    rel = recent / max(abs(tail[-1]), np.finfo(float).tiny)
    if overall > 0 and recent >= 0.5 * overall:
        evidence = (f"the loss still fell by {100 * rel:.2g}% per epoch over the last "
                    f"{w - 1} epochs, as fast as on average since the first")
        if lr is not None and auto_lr is not None and lr >= 0.5 * auto_lr:
            return "too few epochs", evidence + f", at a rate near the auto rate {auto_lr:.3g}"
        return "lr too small", evidence
    return "too few epochs", (f"the loss still fell by {100 * rel:.2g}% per epoch over the last "
                              f"{w - 1} epochs, slowing down")


def _not_converged_message(state: TrainState, config: TrainConfig, lr: float) -> str:
    auto_lr = _asked(config.auto_lr)
    cause, evidence = diagnose([r.loss for r in state.history], lr=lr, auto_lr=auto_lr)
    auto = ("" if auto_lr is None or math.isclose(auto_lr, lr)
            else f" (lr='auto' picks {auto_lr:.3g})")
    fix = {"lr too large": f"the learning rate lr={lr:.3g} looks too large; use a smaller one "
                           f"(e.g. lr={lr / 3:.3g}){auto} or a decaying schedule "
                           "(schedule='cosine')",
           "lr too small": f"the learning rate lr={lr:.3g} looks too small; use a larger one "
                           f"(e.g. lr={lr * 3:.3g}){auto} or more epochs",
           "too few epochs": f"too few epochs; raise epochs (e.g. epochs={2 * config.epochs})"}
    return (f"{config.owner} stopped at the epoch limit epochs={config.epochs} without "
            f"converging: expected the loss to change by at most tol={config.tol:g} "
            f"(relative) for n_iter_no_change={config.n_iter_no_change} epochs in a row, but "
            f"{evidence}: {fix[cause]}.")


#: the full-batch stopping test measures changes relative to at least this share of the
#: first epoch's loss: on a loss heading for zero (an exact fit) a change of tol * 1% of
#: where it started is negligible, and a relative test alone would never pass
SETTLED_FLOOR = 1e-2


def _settled(state: TrainState, monitored: float, config: TrainConfig,
             on_validation: bool) -> bool:
    """Whether this epoch passes the stopping test (the last row of state.history is it).

    Full batch (one step per epoch, no sampling noise): the training loss changed by at most
    tol relative to the previous epoch's (or to SETTLED_FLOOR of the first epoch's, when
    larger), in either direction: a loss still falling, or oscillating, has not converged.
    Mini-batches, whose epoch losses carry sampling noise, and a validation score: the value
    did not beat the best so far by more than tol relative (it stopped improving).
    """
    tol = float(config.tol or 0.0)
    if on_validation or state.history[-1].steps != 1:
        return monitored > state.best_value - tol * abs(state.best_value)
    if len(state.history) < config.divergence_start + 2:
        return False
    prev = state.history[-2].loss
    first = state.history[config.divergence_start].loss
    return abs(monitored - prev) <= tol * max(abs(prev), SETTLED_FLOOR * abs(first))


def _end_epoch(state: TrainState, config: TrainConfig, sched: Any, lr_t: float,
               validation: Callable[[Array], tuple[float, float]] | None,
               callbacks: Sequence[Callable[[TrainState, EpochRecord], bool | None]]) -> None:
    """Close an epoch: history row, schedule feedback, convergence test, callbacks."""
    loss = state.epoch_loss_sum / max(state.epoch_weight, 1.0)
    record = EpochRecord(epoch=state.epoch, loss=loss, lr=lr_t,
                         grad_norm=state.epoch_grad_norm_sum / max(state.epoch_steps, 1),
                         seconds=state.epoch_seconds, steps=state.epoch_steps)
    if validation is not None:
        record.val_loss, record.val_score = (float(v) for v in validation(state.theta))
        monitored = -record.val_score  # lower is better for the counter below
    else:
        monitored = loss
    state.history.append(record)
    if loss < state.good_loss:
        state.good_loss = loss
        state.good_theta = (state.epoch_start_theta if state.epoch_start_theta is not None
                            else state.theta).copy()
    why = _growth([r.loss for r in state.history[config.divergence_start:]], config)
    if why is not None:
        raise _diverged(state, config, lr_t, why)
    state.epoch += 1
    state.batch_index = 0
    state.epoch_loss_sum = state.epoch_weight = state.epoch_grad_norm_sum = 0.0
    state.epoch_steps, state.epoch_seconds = 0, 0.0
    if hasattr(sched, "observe"):
        sched.observe(monitored)
        state.schedule_state = copy.deepcopy(sched.state_dict())
    if config.tol is not None:
        # no_improve counts the epochs in a row that passed the test (see TrainConfig)
        if _settled(state, monitored, config, validation is not None):
            state.no_improve += 1
        else:
            state.no_improve = 0
    if monitored < state.best_value:
        state.best_value, state.best_epoch = monitored, record.epoch
        if config.restore_best:
            state.best_theta = state.theta.copy()
    if config.tol is not None and state.no_improve >= config.n_iter_no_change:
        state.converged = True
        state.stopped_by = "converged"
    for cb in callbacks:
        if cb(state, record):
            state.stopped_by = state.stopped_by or "callback"
