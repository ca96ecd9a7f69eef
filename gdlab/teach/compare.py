"""The lessons' comparison (L5): one model, full-batch vs mini-batch vs stochastic descent,
and every optimizer, on the same data with the same seed.

A fair comparison is not "the same learning rate for all" (Adam's step is about lr whatever
the gradient scale, plain GD's is lr times the gradient), so each optimizer gets a default
learning rate that works well for it on standardized data (:data:`DEFAULT_LRS`); pass ``lr``
to force one value for all.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from gdlab.core._validation import check_choice
from gdlab.core.loop import DivergenceError
from gdlab.estimators.linear import LinearRegression, LogisticRegression, SoftmaxRegression

DEFAULT_LRS = {"gd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.1,
               "rmsprop": 0.01, "adam": 0.01, "adamw": 0.01}
BATCH_MODES = {"full": None, "mini": 32, "stochastic": 1}
DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")


@dataclass
class CompareRow:
    """One fit of the comparison."""

    optimizer: str
    batch: str
    batch_size: int | None
    lr: float
    final_loss: float
    score: float
    metric: str
    epochs: int
    seconds: float
    status: str
    loss_curve: list[float] = field(default_factory=list)

    def as_dict(self, with_curve: bool = False) -> dict[str, Any]:
        d = dict(self.__dict__)
        if not with_curve:
            d.pop("loss_curve")
        return d


def load_dataset(name: str) -> tuple[NDArray[Any], NDArray[Any], str]:
    """A dataset bundled with scikit-learn (no network): X, y and the task."""
    from sklearn import datasets

    check_choice(name, "dataset", DATASETS)
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    task = "regression" if name == "diabetes" else ("binary" if name == "breast_cancer"
                                                     else "multiclass")
    return X, y, task


def estimator_for(task: str, **params: Any) -> Any:
    """The gdlab estimator for a task: 'regression', 'binary' or 'multiclass'."""
    check_choice(task, "task", ("regression", "binary", "multiclass"))
    classes: dict[str, type] = {"regression": LinearRegression, "binary": LogisticRegression,
                                "multiclass": SoftmaxRegression}
    cls = classes[task]
    return cls(**params)


def compare(
    X: Any,
    y: Any,
    task: str,
    *,
    optimizers: Sequence[str] = tuple(DEFAULT_LRS),
    batches: Sequence[str] = tuple(BATCH_MODES),
    epochs: int = 50,
    lr: float | None = None,
    mini_batch_size: int = 32,
    test_size: float = 0.25,
    random_state: int = 0,
) -> list[CompareRow]:
    """Fit the same model with each optimizer x batch mode; return one row per fit.

    X : array of shape (n_samples, n_features), standardized here on the training split.
    Scores are measured on a held-out split (accuracy for classifiers, R^2 for regression).
    ``tol=None``: every fit runs all epochs, so curves have the same length.
    """
    for b in batches:
        check_choice(b, "batches", BATCH_MODES)
    for o in optimizers:
        check_choice(o, "optimizers", DEFAULT_LRS)
    stratify = None if task == "regression" else y
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size,
                                          random_state=random_state, stratify=stratify)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    rows = []
    for batch in batches:
        bs = mini_batch_size if batch == "mini" else BATCH_MODES[batch]
        for opt in optimizers:
            rate = DEFAULT_LRS[opt] if lr is None else lr
            if batch == "stochastic" and lr is None:
                rate /= 10  # one-sample gradients are noisy: a smaller step keeps it stable
            est = estimator_for(task, optimizer=opt, lr=rate, batch_size=bs, epochs=epochs,
                                tol=None, random_state=random_state)
            t0 = time.perf_counter()
            status = "ok"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(Xtr, ytr)
                score = float(est.score(Xte, yte))
            except DivergenceError:
                status, score = "diverged", float("nan")
            rows.append(CompareRow(
                optimizer=opt, batch=batch, batch_size=bs, lr=rate,
                final_loss=est.loss_curve_[-1] if est.loss_curve_ else float("nan"),
                score=score, metric="R^2" if task == "regression" else "accuracy",
                epochs=est.n_iter_, seconds=time.perf_counter() - t0, status=status,
                loss_curve=list(est.loss_curve_),
            ))
    return rows


def baseline_score(X: Any, y: Any, task: str, *, test_size: float = 0.25,
                   random_state: int = 0) -> tuple[str, float]:
    """scikit-learn's reference on the split and scaling :func:`compare` uses: the closed-form
    ``LinearRegression`` (R^2) or ``LogisticRegression`` (lbfgs, C=1; accuracy).

    Returns (model description, held-out score)."""
    from sklearn.linear_model import LinearRegression as SkLinear
    from sklearn.linear_model import LogisticRegression as SkLogistic

    stratify = None if task == "regression" else y
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size,
                                          random_state=random_state, stratify=stratify)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    if task == "regression":
        ref: Any = SkLinear()
        name = "scikit-learn LinearRegression (closed form)"
    else:
        ref = SkLogistic(max_iter=10_000)
        name = "scikit-learn LogisticRegression (lbfgs, C=1)"
    return name, float(ref.fit(Xtr, ytr).score(Xte, yte))


def rows_to_histories(rows: Sequence[CompareRow]) -> dict[str, list[float]]:
    """Label -> loss curve, for plotting."""
    return {f"{r.optimizer} / {r.batch} (lr={r.lr:g})": r.loss_curve for r in rows}


def best_row(rows: Sequence[CompareRow]) -> CompareRow:
    """The row with the highest held-out score (ties: lowest final loss)."""
    ok = [r for r in rows if np.isfinite(r.score)]
    return max(ok, key=lambda r: (r.score, -r.final_loss))


@dataclass
class LossCurves:
    """Per-epoch curves of one softmax fit with a given loss."""

    loss: str
    train_loss: list[float]
    grad_norm: list[float]
    test_accuracy: list[float]

    def epochs_to(self, accuracy: float) -> int | None:
        """First epoch (1-based) whose held-out accuracy reaches ``accuracy``."""
        return next((i + 1 for i, a in enumerate(self.test_accuracy) if a >= accuracy), None)


def compare_softmax_losses(
    X: Any,
    y: Any,
    *,
    losses: Sequence[str] = ("cce", "mse", "bce"),
    optimizer: str = "gd",
    lr: float = 0.5,
    epochs: int = 60,
    test_size: float = 0.25,
    random_state: int = 0,
) -> list[LossCurves]:
    """The lesson's loss comparison (L2): softmax regression trained with CCE, with MSE on the
    softmax outputs and with BCE on them, full batch, same optimizer and start.

    Returns per-epoch training loss, gradient norm and held-out accuracy for each loss; MSE's
    gradient carries p(1 - p) factors and reaches a given accuracy later than CCE.
    """
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size,
                                          random_state=random_state, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    out = []
    for loss in losses:
        accs: list[float] = []
        est = SoftmaxRegression(loss=loss, optimizer=optimizer, lr=lr, batch_size=None,
                                epochs=epochs, tol=None, random_state=random_state)

        def track(state: Any, record: Any, est: Any = est, accs: list[float] = accs) -> None:
            K = len(est.classes_)
            W, b = state.theta[:-K].reshape(-1, K), state.theta[-K:]
            accs.append(float(np.mean(est.classes_[(Xte @ W + b).argmax(axis=1)] == yte)))

        est.set_params(callbacks=[track]).fit(Xtr, ytr)
        out.append(LossCurves(loss, list(est.loss_curve_),
                              [h["grad_norm"] for h in est.history_], accs))
    return out
