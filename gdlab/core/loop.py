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
    "run",
]


class DivergenceError(ValueError):
    """Training produced a non-finite loss or parameter.

    Attributes: epoch, step, last_finite_loss, lr, and params (the last finite parameters).
    """

    def __init__(self, *, epoch: int, step: int, last_finite_loss: float | None, lr: float,
                 params: Array, what: str) -> None:
        self.epoch, self.step, self.lr = epoch, step, lr
        self.last_finite_loss = last_finite_loss
        self.params = params
        last = "none yet" if last_finite_loss is None else f"{last_finite_loss:.6g}"
        super().__init__(
            f"Training diverged at epoch {epoch}, step {step}: the {what} became non-finite "
            f"(last finite loss {last}, learning rate {lr:.6g}). Use a smaller learning rate "
            f"(e.g. lr={lr / 10:.3g}) or standardize the features "
            "(sklearn.preprocessing.StandardScaler)."
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
                return out  # type: ignore[no-any-return]
        return self.model.loss_and_grad_checked(theta, X, y, sample_weight=w)  # type: ignore[no-any-return]

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
    tol, n_iter_no_change : stop when the monitored value has not improved by tol for that
        many epochs (the training loss, or the validation score with a validation function).
    restore_best : put back the parameters of the best monitored epoch when stopping.
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

    def validate(self, owner: str = "train") -> None:
        check_scalar(self.lr, "lr", low=0.0, closed="neither", owner=owner)
        check_scalar(self.epochs, "epochs", kind=int, low=1, owner=owner)
        check_scalar(self.batch_size, "batch_size", kind=int, low=1, owner=owner, allow_none=True)
        check_scalar(self.tol, "tol", low=0.0, owner=owner, allow_none=True)
        check_scalar(self.n_iter_no_change, "n_iter_no_change", kind=int, low=1, owner=owner)
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

    while state.epoch < config.epochs and state.stopped_by is None:
        t0 = time.perf_counter()
        if state.batch_index == 0:
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
                raise DivergenceError(epoch=state.epoch, step=state.step, lr=lr_t,
                                      last_finite_loss=state.last_finite_loss,
                                      params=theta.copy(), what="loss or gradient")
            with np.errstate(over="ignore", invalid="ignore"):
                updates, opt_state = optimizer.update(grad, state.opt_state, theta, lr_t)
                new_theta = theta + updates
            if not _finite(new_theta):
                state.theta = theta
                raise DivergenceError(epoch=state.epoch, step=state.step, lr=lr_t,
                                      last_finite_loss=loss, params=theta.copy(),
                                      what="parameters")
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
        warnings.warn(
            f"Stopped after the maximum of {config.epochs} epochs without converging (tol="
            f"{config.tol}). Increase epochs, raise the learning rate, or standardize features.",
            ConvergenceWarning, stacklevel=3)
    return state


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
    state.epoch += 1
    state.batch_index = 0
    state.epoch_loss_sum = state.epoch_weight = state.epoch_grad_norm_sum = 0.0
    state.epoch_steps, state.epoch_seconds = 0, 0.0
    if hasattr(sched, "observe"):
        sched.observe(monitored)
        state.schedule_state = copy.deepcopy(sched.state_dict())
    if config.tol is not None:
        if monitored > state.best_value - config.tol:
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
