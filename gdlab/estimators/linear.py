"""Linear, logistic and softmax regression: the GLM (:mod:`gdlab.core.models.glm`) behind
scikit-learn compatible estimators.

``LinearRegression``, ``LogisticRegression`` (binary) and ``SoftmaxRegression`` (multinomial,
trained as one model, not one-vs-rest) fit by gradient descent with any optimizer of
:mod:`gdlab.core.optim`, any schedule of :mod:`gdlab.core.schedules`, and full-batch,
mini-batch or stochastic batches. Fitted parameters are scikit-learn's ``coef_`` of shape
(n_outputs, n_features) and ``intercept_`` of shape (n_outputs,).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, softmax
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from gdlab.core.engine import get_engine
from gdlab.core.models import GLM
from gdlab.core.sources import resolve_batch_size
from gdlab.engines.gram import GramEngine
from gdlab.estimators._dask import dask_aware
from gdlab.estimators.base import _Classifier, _GDEstimator, _Regressor, register_estimator

Array = NDArray[Any]

__all__ = ["LinearRegression", "LogisticRegression", "SoftmaxRegression"]


class _GLMEstimator(_GDEstimator):
    """The GLM's side of an estimator: the model, where it starts, coef_ and intercept_."""

    _loss: str = "mse"

    def _make_model(self, n_features: int) -> GLM:
        return GLM(n_features=n_features, n_outputs=self._n_outputs(), loss=self._loss,
                   fit_intercept=self.fit_intercept)

    def _intercept_init(self, y_enc: Array, w: Array | None) -> Array:
        return np.zeros(self._n_outputs())

    def _initial_theta(self, model: GLM, y_enc: Array, w: Array | None, dtype: Any) -> Array:
        """W = 0 and b at ``_intercept_init`` (0 without an intercept)."""
        W0 = np.zeros((model.n_features, model.n_outputs), dtype=dtype)
        b0 = self._intercept_init(y_enc, w) if self.fit_intercept else 0.0
        return model.pack(W0, b0).astype(dtype)

    def _set_fitted_params(self, model: GLM, theta: Array) -> None:
        W, b = model.unpack(theta)
        self.coef_ = np.ascontiguousarray(W.T)
        self.intercept_ = b.copy()

    def _fitted_arrays(self) -> dict[str, Array]:
        """What a model file stores: coef (n_outputs, n_features), intercept (n_outputs,)."""
        return {"coef": np.atleast_2d(np.asarray(self.coef_)),
                "intercept": np.atleast_1d(np.asarray(self.intercept_))}

    @classmethod
    def _file_schema(cls, meta: dict[str, Any]) -> dict[str, Any]:
        """Dtype kinds and shapes of the arrays a model file must hold (gdlab.io.safe_npz)."""
        n = meta.get("n_features")

        def coef_shape(shape: tuple[int, ...], _meta: Any) -> str | None:
            if len(shape) != 2 or shape[1] != n:
                return f"shape (n_outputs, {n})"
            return None

        return {"coef": ("f", coef_shape), "intercept": ("f", (None,))}

    def _restore_fitted(self, arrays: dict[str, Array], meta: dict[str, Any]) -> None:
        """coef_ and intercept_ from a model file's arrays (ValueError if they disagree)."""
        coef, intercept = arrays["coef"], arrays["intercept"]
        K = coef.shape[0]
        if intercept.shape != (K,):
            raise ValueError(f"'intercept' must have shape ({K},) to match 'coef' "
                             f"{coef.shape}, got {intercept.shape}.")
        if hasattr(self, "classes_"):
            n_classes = self.classes_.shape[0]
            binary = self._n_outputs_for(n_classes) == 1
            if K != self._n_outputs_for(n_classes) or (binary and n_classes != 2):
                raise ValueError(f"{n_classes} classes do not fit 'coef' of shape "
                                 f"{coef.shape}.")
        self._restore_outputs(K, meta)
        # the loaded arrays belong to this estimator alone: no copies
        self.coef_, self.intercept_ = coef, intercept

    def _restore_outputs(self, K: int, meta: dict[str, Any]) -> None:
        """Output bookkeeping a subclass keeps besides coef_ (LinearRegression's targets)."""

    def _logits(self, X: Any) -> Array:
        """X W + b of shape (n_samples, n_outputs), in X's float dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        coef = np.atleast_2d(self.coef_).astype(X.dtype, copy=False)
        return X @ coef.T + np.atleast_1d(self.intercept_).astype(X.dtype)


@register_estimator
class LinearRegression(_Regressor, _GLMEstimator):
    """Linear regression by gradient descent (lesson L1), mean squared error.

    Parameters
    ----------
    optimizer : str or optimizer object, default='adam'
        'gd', 'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw', or an
        object from :mod:`gdlab.core.optim`.
    lr : float or 'auto', default='auto'
        Base learning rate (the schedule scales it). 'auto': 1/L from the Lipschitz constant L
        of the gradient (max|g0| / L for the adaptive optimizers; :mod:`gdlab.core.auto_lr`).
        A float is used exactly.
    schedule : None, str or schedule, default=None
        A name from :mod:`gdlab.core.schedules` or a callable ``schedule(step, lr) -> lr``.
    batch_size : None, 'auto' or int, default='auto'
        None: full batch; 'auto': full batch up to 10,000 rows, else 256; 1: stochastic.
    epochs : int or 'auto', default='auto'
        Maximum number of passes over the data; 'auto': at least 200 epochs and 2,000 steps.
    alpha : float or 'auto', default=1e-4
        L2 penalty alpha/2 ||W||^2 on the weights (not the intercept); 'auto': 1 / n_samples.
    tol, n_iter_no_change : the relative stopping test (gdlab.core.loop.TrainConfig): stop
        when n_iter_no_change epochs in a row changed the loss by at most tol relative (full
        batch) or did not improve on the best by more than that (mini-batches, validation
        score); tol=None runs all epochs.
    early_stopping : bool, default=False
        Hold out validation_fraction of the rows, monitor R^2 on them, and restore the best
        weights when stopping.
    random_state : int, Generator or None
        Seeds the shuffles and the validation split.
    precompute : bool or 'auto', default='auto'
        Cache X^T X and X^T y so that a full-batch step costs O(n_features^2) instead of a
        pass over X; 'auto' does it when every step is full-batch and it pays off.
    standardize_target : bool, default=True
        Train on (y - target_mean_) / target_scale_ (the same minimizer: loss and penalty
        both scale by target_scale_^2), so a target in grams or thousands needs no other
        rate; coef_, intercept_ and predict are on y's own scale, loss_curve_ on the
        standardized one (1.0: the constant model).

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or array of shape (n_targets,)
    n_iter_ : int, epochs run;  t_ : int, optimizer steps taken
    loss_curve_ : list of float, the mean training loss per epoch
    history_ : list of dict, per epoch: loss, lr, grad_norm, seconds, steps, val_loss, val_score
    lr_, auto_lr_, lipschitz_ : the rate used, the 'auto' rate, and L of the batches (with an
        explicit lr the last two are measured only when a message needs them, else None)
    alpha_ : the L2 strength used
    target_mean_, target_scale_ : arrays of shape (n_targets,), or None without
        standardize_target
    converged_ : bool, True only when the stopping test passed
    """

    _loss = "mse"
    _parameter_constraints = {**_GLMEstimator._parameter_constraints,
                              "precompute": ["boolean", StrOptions({"auto"})],
                              "standardize_target": ["boolean"]}

    def __init__(self, *, optimizer: Any = "adam", lr: float | str = "auto", schedule: Any = None,
                 batch_size: int | str | None = "auto", epochs: int | str = "auto",
                 alpha: float | str = 1e-4,
                 tol: float | None = 1e-5, n_iter_no_change: int = 5,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 shuffle: bool = True, fit_intercept: bool = True, schedule_unit: str = "epoch",
                 warm_start: bool = False, random_state: Any = None, verbose: int = 0,
                 callbacks: list[Any] | None = None, precompute: bool | str = "auto",
                 standardize_target: bool = True) -> None:
        super().__init__(optimizer=optimizer, lr=lr, schedule=schedule, batch_size=batch_size,
                         epochs=epochs, alpha=alpha, tol=tol, n_iter_no_change=n_iter_no_change,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         shuffle=shuffle, fit_intercept=fit_intercept,
                         schedule_unit=schedule_unit, warm_start=warm_start,
                         random_state=random_state, verbose=verbose, callbacks=callbacks)
        self.precompute = precompute
        self.standardize_target = standardize_target

    def _use_gram(self, X: Array) -> bool:
        """Cache X^T X and X^T y for full-batch steps: each step then costs O(n^2) instead
        of a pass over X. 'auto' does so when every step is full-batch, n <= 1000 and there
        are enough epochs (>= 10) to repay building the Gram matrix (about n/8 passes)."""
        if self.precompute is not True and self.precompute != "auto":
            return False
        full = resolve_batch_size(self.batch_size, X.shape[0]) is None
        if self.precompute is True:
            return full
        return full and X.shape[1] <= 1000 and self._epochs(X.shape[0]) >= max(10, X.shape[1] // 8)

    def _engine(self, X: Array) -> Any:
        if self._use_gram(X):
            return GramEngine(X, fallback=get_engine("auto"))
        return "auto"


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

    def _score_logits(self, z: Array, y_enc: Array) -> float:
        from sklearn.metrics import r2_score

        return float(r2_score(y_enc, z.reshape(y_enc.shape)))

    def _set_fitted_params(self, model: Any, theta: Array) -> None:
        super()._set_fitted_params(model, theta)
        scale, mean = getattr(self, "target_scale_", None), getattr(self, "target_mean_", None)
        if scale is not None and mean is not None:
            # theta fits (y - target_mean_) / target_scale_: back to y's scale
            self.coef_ = self.coef_ * scale[:, None]
            self.intercept_ = self.intercept_ * scale + mean
        self._squeeze_single_target()

    def _squeeze_single_target(self) -> None:
        if self._y_ndim == 1:
            self.coef_ = np.asarray(self.coef_)[0]
            self.intercept_ = float(np.atleast_1d(self.intercept_)[0])  # type: ignore[assignment]  # scikit-learn: a float for one target

    def _restore_outputs(self, K: int, meta: dict[str, Any]) -> None:
        self._y_ndim, self._n_targets = int(meta.get("y_ndim", 1)), K

    def _restore_fitted(self, arrays: dict[str, Array], meta: dict[str, Any]) -> None:
        super()._restore_fitted(arrays, meta)
        self._squeeze_single_target()

    @dask_aware
    def predict(self, X: Any) -> Array:
        """Predictions of shape (n_samples,) or (n_samples, n_targets)."""
        z = self._logits(X)
        return z[:, 0] if self._y_ndim == 1 else z

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


@register_estimator
class LogisticRegression(_Classifier, _GLMEstimator):
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

    @dask_aware
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities of shape (n_samples, 2): [1 - sigmoid(z), sigmoid(z)]."""
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


@register_estimator
class SoftmaxRegression(_Classifier, _GLMEstimator):
    """Softmax (multinomial logistic) regression by gradient descent (lesson L2).

    One model over K classes with dL/dZ = softmax(Z) - Y. ``loss`` selects the loss applied to
    the softmax outputs: 'cce' (categorical cross-entropy, the right one), or 'mse' / 'bce' for
    the lesson's comparison (their gradients vanish when the softmax saturates).

    Attributes: coef_ of shape (n_classes, n_features), intercept_ of shape (n_classes,),
    classes_, n_iter_, loss_curve_, history_.
    """

    _parameter_constraints = {**_Classifier._parameter_constraints,
                              "loss": [StrOptions({"cce", "mse", "bce"})]}

    def __init__(self, *, loss: str = "cce", optimizer: Any = "adam", lr: float | str = "auto",
                 schedule: Any = None, batch_size: int | str | None = "auto",
                 epochs: int | str = "auto",
                 alpha: float | str = "auto", tol: float | None = 1e-5, n_iter_no_change: int = 5,
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
    def _loss(self) -> str:  # type: ignore[override]  # a property over the base's class attribute
        return {"cce": "cce", "mse": "softmax_mse", "bce": "softmax_bce"}[self.loss]

    def _check_classes(self, n: int) -> None:
        if n < 2:
            raise ValueError(
                f"SoftmaxRegression needs at least 2 classes in y, got {n} class. "
                "A classifier needs examples of more than one class."
            )

    @dask_aware
    def decision_function(self, X: Any) -> Array:
        """Logits of shape (n_samples, K); with two classes, z_1 - z_0 of shape (n_samples,)
        (scikit-learn's binary convention: positive means classes_[1])."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    @dask_aware
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities of shape (n_samples, n_classes); rows sum to 1."""
        return softmax(self._logits(X), axis=1)
