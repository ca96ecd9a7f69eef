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
"""

from __future__ import annotations

import copy
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

from gdlab.core.loop import DivergenceError, ModelProblem, TrainConfig, TrainState, run
from gdlab.core.models import Model
from gdlab.core.sources import resolve_batch_size
from gdlab.estimators._dask import dask_aware, fit_dask, is_dask_collection, score_dask

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
        "lr": [Interval(Real, 0, None, closed="neither")],
        "schedule": "no_validation",  # checked by gdlab.core.schedules.get_schedule
        "batch_size": [None, StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
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

    def __init__(
        self,
        *,
        optimizer: Any = "adam",
        lr: float = 0.01,
        schedule: Any = None,
        batch_size: int | str | None = "auto",
        epochs: int = 200,
        alpha: float = 1e-4,
        tol: float | None = 1e-4,
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
            optimizer=self._optimizer(), lr=self.lr, schedule=self.schedule,
            batch_size=resolve_batch_size(self.batch_size, n_samples),
            epochs=epochs, shuffle=self.shuffle, schedule_unit=self.schedule_unit,
            tol=self.tol, n_iter_no_change=self.n_iter_no_change,
            restore_best=self.early_stopping,
        )

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
            return fit_dask(self, X, y, sample_weight, partial=partial,  # type: ignore[no-any-return]
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
                loss = model.loss_value(theta, Xv, yv, sample_weight=wv, alpha=self.alpha)
                return loss, self._score_encoded(theta, Xv, yv)

        problem = ModelProblem.from_arrays(model, X, y_enc, w, self.alpha,
                                           engine=self._engine(X))
        if resume_from is not None:
            state = resume_from
            self._schedule_obj = None
        elif first:
            state = TrainState.start(self._initial_theta(model, y_enc, w, X.dtype),
                                     self._optimizer(), random_state=self._seed())
            self._schedule_obj = None
        else:
            state = self.state_
            state.stopped_by, state.converged = None, False
        n = problem.n_samples
        if partial:
            config = self._config(state.epoch + 1, n)
            config.tol, config.warn_on_no_convergence = None, False
        else:
            config = self._config(self.epochs if (first or resume_from is not None)
                                  else state.epoch + self.epochs, n)
            if resume_from is None:
                state.no_improve, state.best_value, state.best_theta = 0, np.inf, None
        from gdlab.core.schedules import schedule_for_run

        if getattr(self, "_schedule_obj", None) is None or resume_from is not None:
            # a schedule named without settings is scaled to the run (e.g. cosine: T_max)
            per_epoch = problem.source.n_batches(config.batch_size)
            horizon = self.epochs * (per_epoch if self.schedule_unit == "step" else 1)
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
            check_array(X, ensure_all_finite=True, dtype=None, input_name="X")
            self._set_fitted(model, state)
            raise
        finally:
            if progress is not None:
                progress.close()
        self._set_fitted(model, state)
        return self

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
        if getattr(self, "class_weight", None) is not None:
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
        problem = ModelProblem.from_arrays(model, X, y_enc, w, self.alpha)
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

    def __init__(self, *, optimizer: Any = "adam", lr: float = 0.01, schedule: Any = None,
                 batch_size: int | str | None = "auto", epochs: int = 200, alpha: float = 1e-4,
                 tol: float | None = 1e-4, n_iter_no_change: int = 5,
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
        return self._fit(X, y, sample_weight, partial=False,  # type: ignore[return-value]
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
        return self._fit(X, y, sample_weight, partial=True, classes=classes)  # type: ignore

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
