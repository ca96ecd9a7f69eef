"""scikit-learn compatible estimators over the one training loop.

``LinearRegression``, ``LogisticRegression`` (binary) and ``SoftmaxRegression`` (multinomial,
trained as one model, not one-vs-rest) fit by gradient descent with any optimizer of
:mod:`gdlab.core.optim`, any schedule of :mod:`gdlab.core.schedules`, and full-batch, mini-batch or
stochastic batches. Hyperparameters are keyword-only and stored untouched by ``__init__``;
fitted state ends in ``_``; not converging is a ``ConvergenceWarning``; a diverging run raises
:class:`gdlab.core.loop.DivergenceError` and keeps the last finite parameters.

Loss convention: the mean loss over samples (weighted mean with ``sample_weight``) plus
``alpha / 2 * ||W||^2``; the intercept is not penalized.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, softmax
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
from gdlab.core.loop import DivergenceError, GLMProblem, TrainConfig, TrainState, run
from gdlab.core.models import GLM

Array = NDArray[Any]

__all__ = ["LinearRegression", "LogisticRegression", "SoftmaxRegression"]


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

    # ---- hooks each estimator defines: _encode_y, _n_outputs, _score_encoded ----------------
    if TYPE_CHECKING:

        def _encode_y(self, y: Any, *, first: bool, classes: Any = None) -> Array: ...

        def _n_outputs(self) -> int: ...

        def _score_encoded(self, theta: Array, X: Array, y_enc: Array) -> float: ...

    def _intercept_init(self, y_enc: Array, w: Array | None) -> Array:
        return np.zeros(self._n_outputs())

    # ---- the run ---------------------------------------------------------------------------
    def _config(self, epochs: int) -> TrainConfig:
        bs = self.batch_size
        return TrainConfig(
            optimizer=self._optimizer(), lr=self.lr, schedule=self.schedule,
            batch_size=None if bs is None else (256 if bs == "auto" else int(bs)),
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

        problem = GLMProblem(model, X, y_enc, w, self.alpha, gram=self._use_gram(X))
        if resume_from is not None:
            state = resume_from
            self._schedule_obj = None
        elif first:
            W0 = np.zeros((model.n_features, model.n_outputs), dtype=X.dtype)
            b0 = self._intercept_init(y_enc, w) if self.fit_intercept else 0.0
            state = TrainState.start(model.pack(W0, b0).astype(X.dtype), self._optimizer(),
                                     random_state=self._seed())
            self._schedule_obj = None
        else:
            state = self.state_
            state.stopped_by, state.converged = None, False
        if partial:
            config = self._config(state.epoch + 1)
            config.tol, config.warn_on_no_convergence = None, False
        else:
            config = self._config(self.epochs if (first or resume_from is not None)
                                  else state.epoch + self.epochs)
            if resume_from is None:
                state.no_improve, state.best_value, state.best_theta = 0, np.inf, None
        from gdlab.core.schedules import schedule_for_run

        if getattr(self, "_schedule_obj", None) is None or resume_from is not None:
            # a schedule named without settings is scaled to the run (e.g. cosine: T_max)
            per_epoch = -(-problem.n_samples // (config.batch_size or problem.n_samples))
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

    def _use_gram(self, X: Array) -> bool:
        """Only LinearRegression can cache X^T X (see its ``precompute``)."""
        return False

    def _prepare(self, X: Any, y: Any, sample_weight: Any, *, first: bool, partial: bool,
                 classes: Any = None, finite: bool = True
                 ) -> tuple[Array, Array, Array | None, GLM]:
        """Validated X, encoded y, combined sample and class weights, and the model.

        ``finite=False`` skips the pass over X for NaN / inf (the caller checks it).
        """
        X, y = self._validate_X_y(X, y, reset=not (partial and not first), finite=finite)
        y_enc = self._encode_y(y, first=first, classes=classes)
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if getattr(self, "class_weight", None) is not None:
            check_class_weight(self.class_weight, self.classes_, type(self).__name__)
            cw = compute_sample_weight(self.class_weight, y)  # keys are the original labels
            w = cw.astype(X.dtype) if w is None else w * cw
        model = GLM(n_features=X.shape[1], n_outputs=self._n_outputs(), loss=self._loss,
                    fit_intercept=self.fit_intercept)
        return X, y_enc, w, model

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
        problem = GLMProblem(model, X, y_enc, w, self.alpha)
        bs = est._config(1).batch_size
        n = problem.n_samples
        rng = np.random.default_rng(est._seed())
        order = rng.permutation(n)

        def loss_and_grad(theta: Array, step: int) -> tuple[float, Array]:
            if bs is None or bs >= n:
                return problem.loss_and_grad(theta, None)
            start = (step * bs) % n
            return problem.loss_and_grad(theta, order[start:start + bs])

        W0 = np.zeros((model.n_features, model.n_outputs), dtype=X.dtype)
        b0 = est._intercept_init(y_enc, w) if self.fit_intercept else 0.0
        return lr_range_test(loss_and_grad, model.pack(W0, b0).astype(X.dtype),
                             est._optimizer(), lr_min=lr_min, lr_max=lr_max,
                             num_steps=num_steps)

    def _seed(self) -> int | None:
        rs = self.random_state
        if rs is None or isinstance(rs, (int, np.integer)):
            return None if rs is None else int(rs)
        return int(np.random.default_rng(rs.randint(2**31) if hasattr(rs, "randint")
                                         else rs).integers(2**31))

    def _set_fitted(self, model: GLM, state: TrainState) -> None:
        W, b = model.unpack(state.theta)
        self.model_ = model
        self.state_ = state
        self.coef_ = np.ascontiguousarray(W.T)
        self.intercept_ = b.copy()
        self.n_iter_ = state.epoch
        self.t_ = state.step
        self.history_ = [r.as_dict() for r in state.history]
        self.loss_curve_ = [r.loss for r in state.history]
        self.validation_scores_ = ([r.val_score for r in state.history]
                                   if self.early_stopping else None)
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None
        self.converged_ = state.converged

    # ---- prediction ------------------------------------------------------------------------
    def _logits(self, X: Any) -> Array:
        """X W + b of shape (n_samples, n_outputs), in X's float dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        coef = np.atleast_2d(self.coef_).astype(X.dtype, copy=False)
        return X @ coef.T + np.atleast_1d(self.intercept_).astype(X.dtype)

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


class LinearRegression(RegressorMixin, _GDEstimator):
    """Linear regression by gradient descent (lesson L1), mean squared error.

    Parameters
    ----------
    optimizer : str or optimizer object, default='adam'
        'gd', 'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw', or an
        object from :mod:`gdlab.core.optim`.
    lr : float, default=0.01
        Base learning rate (the schedule scales it).
    schedule : None, str or schedule, default=None
        A name from :mod:`gdlab.core.schedules` or a callable ``schedule(step, lr) -> lr``.
    batch_size : None, 'auto' or int, default='auto'
        None: full batch; 'auto': min(256, n_samples); 1: stochastic.
    epochs : int, default=200
        Maximum number of passes over the data.
    alpha : float, default=1e-4
        L2 penalty alpha/2 ||W||^2 on the weights (not the intercept).
    tol, n_iter_no_change : stop when the loss (or the validation score) has not improved by
        tol for n_iter_no_change epochs; tol=None runs all epochs.
    early_stopping : bool, default=False
        Hold out validation_fraction of the rows, monitor R^2 on them, and restore the best
        weights when stopping.
    random_state : int, Generator or None
        Seeds the shuffles and the validation split.
    precompute : bool or 'auto', default='auto'
        Cache X^T X and X^T y so that a full-batch step costs O(n_features^2) instead of a
        pass over X; 'auto' does it when every step is full-batch and it pays off.

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or array of shape (n_targets,)
    n_iter_ : int, epochs run;  t_ : int, optimizer steps taken
    loss_curve_ : list of float, the mean training loss per epoch
    history_ : list of dict, per epoch: loss, lr, grad_norm, seconds, steps, val_loss, val_score
    """

    _loss = "mse"
    _parameter_constraints = {**_GDEstimator._parameter_constraints,
                              "precompute": ["boolean", StrOptions({"auto"})]}

    def __init__(self, *, optimizer: Any = "adam", lr: float = 0.01, schedule: Any = None,
                 batch_size: int | str | None = "auto", epochs: int = 200, alpha: float = 1e-4,
                 tol: float | None = 1e-4, n_iter_no_change: int = 5,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 shuffle: bool = True, fit_intercept: bool = True, schedule_unit: str = "epoch",
                 warm_start: bool = False, random_state: Any = None, verbose: int = 0,
                 callbacks: list[Any] | None = None, precompute: bool | str = "auto") -> None:
        super().__init__(optimizer=optimizer, lr=lr, schedule=schedule, batch_size=batch_size,
                         epochs=epochs, alpha=alpha, tol=tol, n_iter_no_change=n_iter_no_change,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         shuffle=shuffle, fit_intercept=fit_intercept,
                         schedule_unit=schedule_unit, warm_start=warm_start,
                         random_state=random_state, verbose=verbose, callbacks=callbacks)
        self.precompute = precompute

    def _use_gram(self, X: Array) -> bool:
        """Cache X^T X and X^T y for full-batch steps: each step then costs O(n^2) instead
        of a pass over X. 'auto' does so when every step is full-batch, n <= 1000 and there
        are enough epochs (>= 10) to repay building the Gram matrix (about n/8 passes)."""
        if self.precompute is not True and self.precompute != "auto":
            return False
        bs = self._config(1).batch_size
        full = bs is None or bs >= X.shape[0]
        if self.precompute is True:
            return full
        return full and X.shape[1] <= 1000 and self.epochs >= max(10, X.shape[1] // 8)

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *,
            resume_from: TrainState | None = None) -> LinearRegression:
        """Fit on X of shape (n_samples, n_features) and y of shape (n_samples,) or
        (n_samples, n_targets). ``resume_from``: a TrainState from a checkpoint
        (:func:`gdlab.io.checkpoint.load_checkpoint`) to continue exactly where it stopped."""
        self._validate_params()
        return self._fit(X, y, sample_weight, partial=False,  # type: ignore[return-value]
                         resume_from=resume_from)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearRegression:
        """One more epoch over (X, y), keeping parameters and optimizer state."""
        if not hasattr(self, "state_"):
            self._validate_params()
        return self._fit(X, y, sample_weight, partial=True)  # type: ignore[return-value]

    def _encode_y(self, y: Any, *, first: bool, classes: Any = None) -> Array:
        y = np.asarray(y)
        if first:
            self._y_ndim = y.ndim
            self._n_targets = 1 if y.ndim == 1 else y.shape[1]
        elif (1 if y.ndim == 1 else y.shape[1]) != self._n_targets:
            raise ValueError(f"y has {1 if y.ndim == 1 else y.shape[1]} targets, but "
                             f"{type(self).__name__} was fitted with {self._n_targets}.")
        return y.astype(np.float64, copy=False)

    def _n_outputs(self) -> int:
        return self._n_targets

    def _intercept_init(self, y_enc: Array, w: Array | None) -> Array:
        # start at the best constant model: the weights then only explain the rest
        return np.atleast_1d(np.average(y_enc, axis=0, weights=w))

    def _score_encoded(self, theta: Array, X: Array, y_enc: Array) -> float:
        from sklearn.metrics import r2_score

        return float(r2_score(y_enc, self.model_for(X).forward(theta, X)))

    def model_for(self, X: Array) -> GLM:
        return GLM(n_features=X.shape[1], n_outputs=self._n_targets, loss="mse")

    def _set_fitted(self, model: GLM, state: TrainState) -> None:
        super()._set_fitted(model, state)
        if self._y_ndim == 1:
            self.coef_ = self.coef_[0]
            self.intercept_ = float(self.intercept_[0])  # type: ignore[assignment]

    def predict(self, X: Any) -> Array:
        """Predictions of shape (n_samples,) or (n_samples, n_targets)."""
        z = self._logits(X)
        return z[:, 0] if self._y_ndim == 1 else z

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class _Classifier(ClassifierMixin, _GDEstimator):
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
        return 1 if len(self.classes_) == 2 and self._loss == "bce" else len(self.classes_)

    def _score_encoded(self, theta: Array, X: Array, y_enc: Array) -> float:
        z = X @ theta[: -self._n_outputs()].reshape(X.shape[1], -1) + theta[-self._n_outputs():]
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

    def decision_function(self, X: Any) -> Array:
        """Logits X W + b: shape (n_samples,) for a binary model, (n_samples, K) otherwise."""
        z = self._logits(X)
        return z[:, 0] if z.shape[1] == 1 else z

    def predict(self, X: Any) -> Array:
        """Predicted labels of shape (n_samples,), taken from classes_."""
        z = self.decision_function(X)
        idx = (z > 0).astype(int) if z.ndim == 1 else z.argmax(axis=1)
        return self.classes_[idx]

    def predict_log_proba(self, X: Any) -> Array:
        """Log of predict_proba, shape (n_samples, n_classes)."""
        return np.log(np.clip(self.predict_proba(X), np.finfo(np.float64).tiny, None))


class LogisticRegression(_Classifier):
    """Binary logistic regression by gradient descent (lessons L2, L4).

    Labels can be any two values (strings or integers); ``classes_[1]`` is the positive class.
    Parameters as :class:`LinearRegression`, plus ``class_weight`` (None, 'balanced' or a
    dict label -> weight). For more than two classes use :class:`SoftmaxRegression`.

    Attributes: coef_ of shape (1, n_features), intercept_ of shape (1,), classes_, n_iter_,
    loss_curve_, history_.
    """

    _loss = "bce"

    def _check_classes(self, n: int) -> None:
        if n > 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"multiclass: LogisticRegression needs exactly 2 classes in y, got {n} classes. "
                "Use gdlab.SoftmaxRegression for more than two classes."
            )
        if n < 2:
            raise ValueError(
                f"LogisticRegression needs exactly 2 classes in y, got {n} class. "
                "A classifier needs examples of more than one class."
            )

    def _intercept_init(self, y_enc: Array, w: Array | None) -> Array:
        return np.zeros(1)

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities of shape (n_samples, 2): [1 - sigmoid(z), sigmoid(z)]."""
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


class SoftmaxRegression(_Classifier):
    """Softmax (multinomial logistic) regression by gradient descent (lesson L2).

    One model over K classes with dL/dZ = softmax(Z) - Y. ``loss`` selects the loss applied to
    the softmax outputs: 'cce' (categorical cross-entropy, the right one), or 'mse' / 'bce' for
    the lesson's comparison (their gradients vanish when the softmax saturates).

    Attributes: coef_ of shape (n_classes, n_features), intercept_ of shape (n_classes,),
    classes_, n_iter_, loss_curve_, history_.
    """

    _parameter_constraints = {**_Classifier._parameter_constraints,
                              "loss": [StrOptions({"cce", "mse", "bce"})]}

    def __init__(self, *, loss: str = "cce", optimizer: Any = "adam", lr: float = 0.01,
                 schedule: Any = None, batch_size: int | str | None = "auto", epochs: int = 200,
                 alpha: float = 1e-4, tol: float | None = 1e-4, n_iter_no_change: int = 5,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 shuffle: bool = True, fit_intercept: bool = True, schedule_unit: str = "epoch",
                 warm_start: bool = False, random_state: Any = None, verbose: int = 0,
                 callbacks: list[Any] | None = None, class_weight: Any = None) -> None:
        super().__init__(optimizer=optimizer, lr=lr, schedule=schedule, batch_size=batch_size,
                         epochs=epochs, alpha=alpha, tol=tol, n_iter_no_change=n_iter_no_change,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         shuffle=shuffle, fit_intercept=fit_intercept,
                         schedule_unit=schedule_unit, warm_start=warm_start,
                         random_state=random_state, verbose=verbose, callbacks=callbacks,
                         class_weight=class_weight)
        self.loss = loss

    @property
    def _loss(self) -> str:  # type: ignore[override]
        return {"cce": "cce", "mse": "softmax_mse", "bce": "softmax_bce"}[self.loss]

    def _check_classes(self, n: int) -> None:
        if n < 2:
            raise ValueError(
                f"SoftmaxRegression needs at least 2 classes in y, got {n} class. "
                "A classifier needs examples of more than one class."
            )

    def decision_function(self, X: Any) -> Array:
        """Logits of shape (n_samples, K); with two classes, z_1 - z_0 of shape (n_samples,)
        (scikit-learn's binary convention: positive means classes_[1])."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities of shape (n_samples, n_classes); rows sum to 1."""
        return softmax(self._logits(X), axis=1)
