"""What every gdlab estimator shares: parameter validation, the training run, fitted state.

An estimator is a registered model (:mod:`gdlab.core.models`) plus the scikit-learn surface.
Subclasses say which model they train (``_make_model``), where its parameters start
(``_initial_theta``), how targets are encoded (``_encode_y``), and which fitted attributes
the flat parameters become (``_set_fitted_params``); everything else is here. They register
with :func:`register_estimator`, which is how model files find them.

Hyperparameters are keyword-only and stored untouched by ``__init__``; fitted state ends in
``_``; not converging is a ``ConvergenceWarning``; a diverging run raises
:class:`gdlab.core.loop.DivergenceError` and keeps the last finite parameters.

Loss convention: the mean loss over samples (weighted mean with ``sample_weight``) plus
``alpha / 2 * ||weights||^2``; biases are not penalized.

Defaults derived from the data, for any model: ``lr='auto'`` (1/L, :mod:`gdlab.core.auto_lr`;
``lr_`` is the rate used), ``alpha='auto'`` (1 / sum of weights: scikit-learn's C=1),
``epochs='auto'`` (at least 200 epochs and 2,000 steps), and for an estimator with a
``standardize_target`` parameter, the target standardized before training
(``target_mean_``, ``target_scale_``; the subclass maps its parameters or predictions back).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import compute_sample_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    validate_data,
)

from gdlab.core._validation import check_class_weight
from gdlab.core.loop import DivergenceError, ModelProblem, TrainConfig, TrainState, run
from gdlab.core.models import Model
from gdlab.core.sources import resolve_batch_size
from gdlab.estimators._dask import (
    dask_aware,
    fit_dask,
    is_dask_collection,
    raise_if_nonfinite,
    score_dask,
)

Array = NDArray[Any]

__all__ = ["ESTIMATORS", "register_estimator"]

#: class name -> estimator class; model files rebuild estimators from it
ESTIMATORS: dict[str, type[Any]] = {}

E = TypeVar("E", bound=type)


def register_estimator(cls: E) -> E:
    """Class decorator: make ``cls`` loadable from a model file by its class name."""
    ESTIMATORS[cls.__name__] = cls
    return cls


def _is_optimizer(obj: Any) -> bool:
    return hasattr(obj, "init") and hasattr(obj, "update")


class _GDEstimator(BaseEstimator):
    """Shared machinery: parameter validation, the training run, fitted attributes."""

    _parameter_constraints: dict[str, Any] = {
        # names and objects are both allowed; _optimizer() checks them with a clear message
        "optimizer": "no_validation",
        "lr": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "schedule": "no_validation",  # checked by gdlab.core.schedules.get_schedule
        "batch_size": [None, StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "epochs": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "alpha": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "tol": [None, Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "fit_intercept": ["boolean"],
        "schedule_unit": [StrOptions({"epoch", "step"})],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [None, list],
    }

    _loss: str = "mse"
    #: rows used to estimate the curvature for lr='auto' (a seeded subsample beyond this)
    _AUTO_LR_ROWS: int = 20_000
    # fitted by _resolve_lr / _curvature
    lr_: float
    auto_lr_: float | None
    lipschitz_: float | None
    _unscaled: bool | None

    def __init__(
        self,
        *,
        optimizer: Any = "adam",
        lr: float | str = "auto",
        schedule: Any = None,
        batch_size: int | str | None = "auto",
        epochs: int | str = "auto",
        alpha: float | str = 1e-4,
        tol: float | None = 1e-5,
        n_iter_no_change: int = 5,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        shuffle: bool = True,
        fit_intercept: bool = True,
        schedule_unit: str = "epoch",
        warm_start: bool = False,
        random_state: Any = None,
        verbose: int = 0,
        callbacks: list[Any] | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.batch_size = batch_size
        self.epochs = epochs
        self.alpha = alpha
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.fit_intercept = fit_intercept
        self.schedule_unit = schedule_unit
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    # ---- hooks each estimator defines ------------------------------------------------------
    if TYPE_CHECKING:

        def _encode_y(self, y: Any, *, first: bool, classes: Any = None) -> Array: ...

        def _n_outputs(self) -> int: ...

        def _make_model(self, n_features: int) -> Model: ...

        def _initial_theta(self, model: Any, y_enc: Array, w: Array | None,
                           dtype: Any) -> Array: ...

        def _set_fitted_params(self, model: Any, theta: Array) -> None: ...

        def _logits(self, X: Any) -> Array: ...

        def _score_logits(self, z: Array, y_enc: Array) -> float: ...

    # ---- the run ---------------------------------------------------------------------------
    def _config(self, epochs: int, n_samples: int) -> TrainConfig:
        return TrainConfig(
            optimizer=self._optimizer(), lr=self.lr_, schedule=self.schedule,
            batch_size=resolve_batch_size(self.batch_size, n_samples),
            epochs=epochs, shuffle=self.shuffle, schedule_unit=self.schedule_unit,
            tol=self.tol, n_iter_no_change=self.n_iter_no_change,
            restore_best=self.early_stopping, owner=type(self).__name__,
        )

    def _resolve_lr(self, problem: ModelProblem, theta0: Array, *, fresh: bool
                    ) -> tuple[Callable[[], float | None], Callable[[], bool]]:
        """Set ``lr_``, the rate of the run: ``lr`` itself, or with lr='auto' ``auto_lr_``.

        The curvature (``lipschitz_``, ``auto_lr_``: :mod:`gdlab.core.auto_lr`) is measured
        when lr='auto' (``fresh``: on this data), otherwise only when a message needs it.
        Returns the two hooks the loop's messages call: the auto rate, and whether to
        suggest standardizing the features.
        """
        if fresh:
            self.auto_lr_, self.lipschitz_, self._unscaled = None, None, None
            if self.lr == "auto":
                self._curvature(problem, theta0)
        if self.lr == "auto":
            if self.auto_lr_ is None:
                self._curvature(problem, theta0)
            self.lr_ = float(self.auto_lr_)  # type: ignore[arg-type]  # set by _curvature just above
        else:
            self.lr_ = float(self.lr)

        def auto_hook() -> float | None:
            if self.auto_lr_ is None:
                try:
                    self._curvature(problem, theta0)
                except ValueError:  # X with NaN / inf: the fit reports it
                    return None
            return self.auto_lr_

        def scaling_hook() -> bool:
            if self._unscaled is None:
                auto_hook()
            return self._unscaled is not False

        return auto_hook, scaling_hook

    def _curvature(self, problem: ModelProblem, theta0: Array) -> None:
        """Set ``lipschitz_`` (L of the run's batches), ``auto_lr_`` and whether the columns'
        scales are worth standardizing, from at most _AUTO_LR_ROWS rows of the problem."""
        from gdlab.core.auto_lr import auto_lr, batch_lipschitz, hessian_lipschitz

        source = problem.source
        X, y, w = source.X, source.y, source.sample_weight
        n = X.shape[0]
        if n > self._AUTO_LR_ROWS:  # a seeded subsample estimates the curvature as well
            rows = np.random.default_rng(0).choice(n, self._AUTO_LR_ROWS, replace=False)
            take = getattr(source, "take", None)  # rows on Dask: each block sends its own
            X, y, w = (take(rows) if take is not None
                       else (X[rows], y[rows], (None if w is None else w[rows])))
        if is_dask_collection(X):  # rows on Dask: the (sub)sample comes to this process
            import dask

            X, y, w = (None if v is None else np.asarray(v) for v in dask.compute(X, y, w))
        model = problem.model
        with np.errstate(all="ignore"):
            rms = np.sqrt(np.mean(np.square(X, dtype=np.float64), axis=0))
        rms = rms[rms > 0]
        # columns far from unit scale, or 100x apart: standardizing them is worth suggesting
        self._unscaled = bool(rms.size and (rms.max() > 10 or rms.min() < 0.01 * rms.max()))

        def loss_and_grad(theta: Array) -> tuple[float, Array]:
            loss, grad = model.loss_and_grad_checked(theta, X, y, sample_weight=w)
            p_loss, p_grad = model.penalty(theta, self.alpha_)
            return loss + p_loss, grad + p_grad

        theta0 = np.asarray(theta0, dtype=np.float64)
        try:
            with np.errstate(all="ignore"):
                bounds = (model.lipschitz(X, w, self.alpha_) if hasattr(model, "lipschitz")
                          else None)
                if bounds is None:
                    L, L_max = hessian_lipschitz(loss_and_grad, theta0), None
                else:
                    L, L_max = bounds
        except np.linalg.LinAlgError:
            L, L_max = math.nan, None
        if not (math.isfinite(L) and (L_max is None or math.isfinite(L_max))):
            # X was not checked for NaN / inf yet (see _fit): this is the place to say so
            raise_if_nonfinite(source)
            check_array(source.X, ensure_all_finite=True, dtype=None, input_name="X")
            L, L_max = math.nan, None
        b = resolve_batch_size(self.batch_size, n)
        L_b = batch_lipschitz(L, L_max, n, b)
        self.lipschitz_ = float(L_b)
        self.auto_lr_ = float(auto_lr(self._optimizer(), L_b, loss_and_grad(theta0)[1],
                                      n=n, batch_size=b))

    def _optimizer(self) -> Any:
        from gdlab.core.optim import get_optimizer

        if isinstance(self.optimizer, str):
            return get_optimizer(self.optimizer)
        if _is_optimizer(self.optimizer):
            return copy.deepcopy(self.optimizer)
        raise ValueError(
            f"The 'optimizer' parameter of {type(self).__name__} must be a name such as 'adam' "
            f"or an optimizer object with init and update methods. Got {self.optimizer!r} "
            "instead."
        )

    def _validate_X_y(self, X: Any, y: Any, reset: bool, *, finite: bool = True
                      ) -> tuple[Array, Array]:
        multi = isinstance(self, RegressorMixin)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=reset,
                             multi_output=multi, y_numeric=multi, ensure_all_finite=finite)
        return X, y

    def _fit(self, X: Any, y: Any, sample_weight: Any, *, partial: bool,
             classes: Any = None, resume_from: TrainState | None = None) -> _GDEstimator:
        if is_dask_collection(X):
            return fit_dask(self, X, y, sample_weight, partial=partial,
                            classes=classes, resume_from=resume_from)
        first = not (partial or self.warm_start) or not hasattr(self, "state_")
        # X's finiteness is checked lazily: every row takes part in the first epoch, so NaN or
        # inf in X makes a loss or gradient non-finite and the run stops with a
        # DivergenceError, which is then reported as scikit-learn's input error. This saves a
        # whole pass over X (~15% of a 3-epoch fit on 1M x 100). Rows that might not be read
        # (held-out for early stopping, zero sample weights) are checked up front.
        X, y_enc, w, model = self._prepare(X, y, sample_weight, first=first, partial=partial,
                                           classes=classes, finite=False)
        if self.early_stopping or (w is not None and not np.all(w > 0)):
            check_array(X, ensure_all_finite=True, dtype=None, input_name="X")
        validation = None
        if self.early_stopping and not partial:
            stratify = y_enc if isinstance(self, ClassifierMixin) else None
            idx = np.arange(X.shape[0])
            try:
                tr, va = train_test_split(idx, test_size=self.validation_fraction,
                                          random_state=self._seed(), stratify=stratify)
            except ValueError:
                tr, va = train_test_split(idx, test_size=self.validation_fraction,
                                          random_state=self._seed())
            Xv, yv = X[va], y_enc[va]
            wv = None if w is None else w[va]
            X, y_enc, w = X[tr], y_enc[tr], (None if w is None else w[tr])

            def validation(theta: Array) -> tuple[float, float]:
                loss = model.loss_value(theta, Xv, yv, sample_weight=wv, alpha=self.alpha_)
                return loss, self._score_encoded(theta, Xv, yv)

        if first or resume_from is not None or not hasattr(self, "alpha_"):
            self._resolve_alpha(w, X.shape[0])
        problem = ModelProblem.from_arrays(model, X, y_enc, w, self.alpha_,
                                           engine=self._engine(X))

        def on_divergence() -> None:
            check_array(X, ensure_all_finite=True, dtype=None, input_name="X")

        return self._train(problem, self._initial_theta(model, y_enc, w, X.dtype), first=first,
                           partial=partial, resume_from=resume_from, validation=validation,
                           on_divergence=on_divergence)

    def _train(self, problem: ModelProblem, theta0: Array, *, first: bool, partial: bool,
               resume_from: TrainState | None,
               validation: Callable[[Array], tuple[float, float]] | None,
               on_divergence: Callable[[], None]) -> _GDEstimator:
        """Run the loop on ``problem`` from ``theta0`` (a fresh fit), the fitted state (warm
        start, partial_fit) or ``resume_from``; set the fitted attributes. ``on_divergence``
        runs before a DivergenceError is re-raised (to report bad input instead)."""
        model = problem.model
        if resume_from is not None:
            state = resume_from
            self._schedule_obj = None
        elif first:
            state = TrainState.start(theta0, self._optimizer(), random_state=self._seed())
            self._schedule_obj = None
        else:
            state = self.state_
            state.stopped_by, state.converged = None, False
        fresh = first or resume_from is not None or not hasattr(self, "lr_")
        hooks = self._resolve_lr(problem, theta0, fresh=fresh)
        n = problem.n_samples
        if partial:
            config = self._config(state.epoch + 1, n)
            config.tol, config.warn_on_no_convergence = None, False
            # a stream's chunks differ: a rise over a few calls is no sign of divergence
            config.divergence_epochs = None
        else:
            epochs = self._epochs(n)
            config = self._config(epochs if (first or resume_from is not None)
                                  else state.epoch + epochs, n)
            if resume_from is None:
                state.no_improve, state.best_value, state.best_theta = 0, np.inf, None
                # a warm-started fit (new data, perhaps) is judged against its own first epoch
                config.divergence_start = len(state.history)
                state.good_loss, state.good_theta = np.inf, None
        config.auto_lr, config.suggest_scaling = hooks
        from gdlab.core.schedules import schedule_for_run

        if getattr(self, "_schedule_obj", None) is None or resume_from is not None:
            # a schedule named without settings is scaled to the run (e.g. cosine: T_max)
            per_epoch = problem.source.n_batches(config.batch_size)
            horizon = self._epochs(n) * (per_epoch if self.schedule_unit == "step" else 1)
            self._schedule_obj = schedule_for_run(self.schedule, horizon)
        callbacks = list(self.callbacks or [])
        progress = None
        if self.verbose and not partial:
            from gdlab.estimators.progress import EpochProgress

            progress = EpochProgress(total=config.epochs, description=type(self).__name__)
            callbacks.append(progress)
        try:
            run(problem, state, config, validation=validation, callbacks=callbacks,
                schedule=self._schedule_obj)
        except DivergenceError:
            on_divergence()
            self._set_fitted(model, state)
            raise
        finally:
            if progress is not None:
                progress.close()
        self._set_fitted(model, state)
        return self

    #: epochs='auto' runs at least this many epochs and this many optimizer steps
    _AUTO_EPOCHS, _AUTO_STEPS = 200, 2000

    def _epochs(self, n_samples: int) -> int:
        """The epoch budget: ``epochs``, or with epochs='auto' max(200 epochs, 2,000 steps):
        on small data a full-batch epoch is a single step, so the budget is counted in steps."""
        if self.epochs != "auto":
            return int(self.epochs)
        bs = resolve_batch_size(self.batch_size, n_samples)
        per_epoch = 1 if bs is None else -(-n_samples // bs)
        return max(self._AUTO_EPOCHS, -(-self._AUTO_STEPS // per_epoch))

    def _resolve_alpha(self, w: Array | None, n: int) -> None:
        """Set ``alpha_``: ``alpha``, or with alpha='auto' 1 / (sum of the sample weights), n
        without them: scikit-learn's LogisticRegression(C=1.0) penalty on the mean loss."""
        if self.alpha != "auto":
            self.alpha_ = float(self.alpha)
            return
        total = float(np.sum(w)) if w is not None else float(n)
        self.alpha_ = 1.0 / total if total > 0 else 1.0 / max(n, 1)

    def _standardize_y(self, y_enc: Array, w: Array | None, *, first: bool) -> Array:
        """(y - target_mean_) / target_scale_ when the estimator has ``standardize_target``.

        On the first fit the (weighted) mean and standard deviation of y are stored, per target;
        the mean is 0 without an intercept (the scale is then the root mean square), and a
        constant target keeps the scale 1. Later partial fits reuse them. The model is trained
        on the standardized target; subclasses report parameters on the original scale.
        """
        if not getattr(self, "standardize_target", False):
            self.target_mean_, self.target_scale_ = None, None
            return y_enc
        if first or getattr(self, "target_scale_", None) is None:
            y2 = y_enc.reshape(y_enc.shape[0], -1)
            if w is not None and not np.sum(w) > 0:
                w = None
            mean = (np.average(y2, axis=0, weights=w) if self.fit_intercept
                    else np.zeros(y2.shape[1]))
            scale = np.sqrt(np.average((y2 - mean) ** 2, axis=0, weights=w))
            if is_dask_collection(scale):  # y on Dask: two reductions over its blocks
                import dask

                mean, scale = (np.asarray(v, dtype=np.float64) for v in dask.compute(mean, scale))
            scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
            self.target_mean_, self.target_scale_ = mean, scale
        y2 = (y_enc.reshape(y_enc.shape[0], -1) - self.target_mean_) / self.target_scale_
        return y2.reshape(y_enc.shape)

    def _engine(self, X: Array) -> Any:
        """The engine of the run (:mod:`gdlab.core.engine`); LinearRegression may wrap it in
        its Gram cache."""
        return "auto"

    def _prepare(self, X: Any, y: Any, sample_weight: Any, *, first: bool, partial: bool,
                 classes: Any = None, finite: bool = True
                 ) -> tuple[Array, Array, Array | None, Any]:
        """Validated X, encoded y, combined sample and class weights, and the model.

        ``finite=False`` skips the pass over X for NaN / inf (the caller checks it).
        """
        X, y = self._validate_X_y(X, y, reset=not (partial and not first), finite=finite)
        y_enc = self._encode_y(y, first=first, classes=classes)
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        y_enc = self._standardize_y(y_enc, w, first=first)
        if getattr(self, "class_weight", None) is not None:
            check_class_weight(self.class_weight, self.classes_, type(self).__name__)
            cw = compute_sample_weight(self.class_weight, y)  # keys are the original labels
            w = cw.astype(X.dtype) if w is None else w * cw
        return X, y_enc, w, self._make_model(X.shape[1])

    def lr_range_test(self, X: Any, y: Any, *, sample_weight: Any = None, lr_min: float = 1e-6,
                      lr_max: float = 10.0, num_steps: int = 200) -> Any:
        """Learning-rate range test ("LR finder") with this estimator's optimizer and batches.

        Sweeps the learning rate exponentially from lr_min to lr_max, one step each, on
        mini-batches of ``batch_size`` rows from a seeded shuffle, and returns a
        :class:`gdlab.core.lr_finder.LRRangeResult` (lrs, losses, smoothed losses, ``suggestion``).
        The estimator itself is not changed; plot with gdlab.plots.training.plot_lr_range.
        """
        from sklearn.base import clone

        from gdlab.core.lr_finder import lr_range_test

        self._validate_params()
        est = clone(self)
        X, y_enc, w, model = est._prepare(X, y, sample_weight, first=True, partial=False)
        est._resolve_alpha(w, X.shape[0])
        problem = ModelProblem.from_arrays(model, X, y_enc, w, est.alpha_)
        n = problem.n_samples
        bs = resolve_batch_size(est.batch_size, n)
        rng = np.random.default_rng(est._seed())
        order = rng.permutation(n)

        def loss_and_grad(theta: Array, step: int) -> tuple[float, Array]:
            if bs is None:
                return problem.loss_and_grad(theta, None)
            start = (step * bs) % n
            return problem.loss_and_grad(theta, order[start:start + bs])

        return lr_range_test(loss_and_grad, est._initial_theta(model, y_enc, w, X.dtype),
                             est._optimizer(), lr_min=lr_min, lr_max=lr_max,
                             num_steps=num_steps)

    def _seed(self) -> int | None:
        rs = self.random_state
        if rs is None or isinstance(rs, (int, np.integer)):
            return None if rs is None else int(rs)
        return int(np.random.default_rng(rs.randint(2**31) if hasattr(rs, "randint")
                                         else rs).integers(2**31))

    def _set_fitted(self, model: Any, state: TrainState) -> None:
        self.model_ = model
        self.state_ = state
        self._set_fitted_params(model, state.theta)
        self.n_iter_ = state.epoch
        self.t_ = state.step
        self.history_ = [r.as_dict() for r in state.history]
        self.loss_curve_ = [r.loss for r in state.history]
        self.validation_scores_ = ([r.val_score for r in state.history]
                                   if self.early_stopping else None)
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None
        self.converged_ = state.converged

    def _score_encoded(self, theta: Array, X: Array, y_enc: Array) -> float:
        return self._score_logits(self.model_for(X).logits(theta, X), y_enc)

    def model_for(self, X: Array) -> Any:
        """The model of this estimator for X's columns (outputs as fitted)."""
        return self._make_model(X.shape[1])

    # ---- model files -------------------------------------------------------------------------
    def save(self, path: Any) -> Any:
        """Write the fitted model to one safe .npz file (no pickle); load with gdlab.load."""
        from gdlab.estimators.persist import save_model

        return save_model(self, path)

    @property
    def theta_(self) -> Array:
        """The flat parameter vector [W row-major, b] (see gdlab.core.models)."""
        check_is_fitted(self)
        return self.state_.theta

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class _Classifier(ClassifierMixin, _GDEstimator):
    """The classification surface: labels, classes_, class_weight, predict from logits."""

    _parameter_constraints = {**_GDEstimator._parameter_constraints,
                              "class_weight": [None, dict, StrOptions({"balanced"})]}

    def __init__(self, *, optimizer: Any = "adam", lr: float | str = "auto", schedule: Any = None,
                 batch_size: int | str | None = "auto", epochs: int | str = "auto",
                 alpha: float | str = "auto",
                 tol: float | None = 1e-5, n_iter_no_change: int = 5,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 shuffle: bool = True, fit_intercept: bool = True, schedule_unit: str = "epoch",
                 warm_start: bool = False, random_state: Any = None, verbose: int = 0,
                 callbacks: list[Any] | None = None, class_weight: Any = None) -> None:
        super().__init__(optimizer=optimizer, lr=lr, schedule=schedule, batch_size=batch_size,
                         epochs=epochs, alpha=alpha, tol=tol, n_iter_no_change=n_iter_no_change,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         shuffle=shuffle, fit_intercept=fit_intercept,
                         schedule_unit=schedule_unit, warm_start=warm_start,
                         random_state=random_state, verbose=verbose, callbacks=callbacks)
        self.class_weight = class_weight

    def _check_classes(self, n: int) -> None:
        """Subclasses restrict the number of classes."""

    def _encode_y(self, y: Any, *, first: bool, classes: Any = None) -> Array:
        check_classification_targets(y)
        y = np.asarray(y)
        if first:
            self.classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            self._check_classes(len(self.classes_))
        missing = np.setdiff1d(np.unique(y), self.classes_)
        if missing.size:
            raise ValueError(
                f"y contains labels {missing.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}. Pass every label in `classes` on the first "
                "partial_fit call."
            )
        return np.searchsorted(self.classes_, y)

    def _n_outputs(self) -> int:
        return self._n_outputs_for(len(self.classes_))

    def _n_outputs_for(self, n_classes: int) -> int:
        """Outputs of the head for n classes: one logit for BCE on two classes, else K."""
        return 1 if n_classes == 2 and self._loss == "bce" else n_classes

    def _score_logits(self, z: Array, y_enc: Array) -> float:
        """Accuracy of the labels the logits z, shape (m,) or (m, K), predict."""
        z = z.reshape(len(y_enc), -1)
        pred = (z[:, 0] > 0).astype(int) if z.shape[1] == 1 else z.argmax(axis=1)
        return float(np.mean(pred == y_enc))

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            resume_from: TrainState | None = None) -> _Classifier:
        """Fit on X of shape (n_samples, n_features) and labels y of shape (n_samples,).
        ``resume_from``: a TrainState from a checkpoint to continue exactly where it stopped."""
        self._validate_params()
        return self._fit(X, y, sample_weight, partial=False,
                         resume_from=resume_from)

    def partial_fit(self, X: Any, y: Any, classes: Any = None,
                    sample_weight: Any = None) -> _Classifier:
        """One more epoch over (X, y); pass every label in `classes` on the first call."""
        if not hasattr(self, "state_"):
            self._validate_params()
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit, e.g. "
                    "partial_fit(X, y, classes=np.unique(y_all))."
                )
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Mean accuracy (weighted by sample_weight); a 0-d dask array for Dask input."""
        if is_dask_collection(X):
            return score_dask(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    @dask_aware
    def decision_function(self, X: Any) -> Array:
        """Logits X W + b: shape (n_samples,) for a binary model, (n_samples, K) otherwise."""
        z = self._logits(X)
        return z[:, 0] if z.shape[1] == 1 else z

    @dask_aware
    def predict(self, X: Any) -> Array:
        """Predicted labels of shape (n_samples,), taken from classes_."""
        z = self.decision_function(X)
        idx = (z > 0).astype(int) if z.ndim == 1 else z.argmax(axis=1)
        return self.classes_[idx]

    @dask_aware
    def predict_log_proba(self, X: Any) -> Array:
        """Log of predict_proba, shape (n_samples, n_classes)."""
        return np.log(np.clip(self.predict_proba(X), np.finfo(np.float64).tiny, None))


class _Regressor(RegressorMixin, _GDEstimator):
    """What the regressors share: fit, partial_fit and a Dask-aware R^2."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            resume_from: TrainState | None = None) -> _Regressor:
        """Fit on X of shape (n_samples, n_features) and y of shape (n_samples,) or
        (n_samples, n_targets). ``resume_from``: a TrainState from a checkpoint
        (:func:`gdlab.io.checkpoint.load_checkpoint`) to continue exactly where it stopped."""
        self._validate_params()
        return self._fit(X, y, sample_weight, partial=False,
                         resume_from=resume_from)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> _Regressor:
        """One more epoch over (X, y), keeping the parameters, the optimizer state and the
        target's scaling."""
        if not hasattr(self, "state_"):
            self._validate_params()
        return self._fit(X, y, sample_weight, partial=True)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """R^2 (averaged over targets); a 0-d dask array for Dask input."""
        if is_dask_collection(X):
            return score_dask(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)
