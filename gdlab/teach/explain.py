"""One descent step, every intermediate shown: the lessons' worked examples as data.

``explain_linear_step(way)`` reproduces lesson L1's example (feature -> label 6.7 -> 9.1,
4.6 -> 5.9, 3.5 -> 4.6, 5.5 -> 6.7; theta0 = [w, b] = [-0.34, 0.049]; lr = 0.01):

- Way 1: features x samples, X of shape (n+1, m) with a row of ones; y_hat = theta^T X.
- Way 2: samples as rows, X of shape (m, n+1) with a column of ones; y_hat = X theta (2 rows).
- Way 3: the same on a mini-batch of all 4 rows.

The loss and k = dL/dy_hat come from :mod:`gdlab.core.losses`, the gradient is X^T k (rows) or
X k^T (columns): the same identity the models use. Each result is an :class:`Explanation`,
a list of named quantities with their formulas, values and shapes, printed by ``gdlab explain``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, softmax

from gdlab.core._validation import check_choice, check_scalar
from gdlab.core.losses import bce, cce, mse

WORKED_X = np.array([6.7, 4.6, 3.5, 5.5])
WORKED_Y = np.array([9.1, 5.9, 4.6, 6.7])
WORKED_THETA = np.array([-0.34, 0.049])  # [w, b]
WORKED_LR = 0.01


def _clean(value: Any) -> Any:
    """Round to 10 significant digits, so 72.22374700000002 prints as 72.223747."""
    arr = np.asarray(value, dtype=np.float64)
    cleaned = np.vectorize(lambda v: float(f"{v:.10g}"), otypes=[np.float64])(arr)
    return float(cleaned) if arr.ndim == 0 else cleaned


@dataclass(frozen=True)
class Quantity:
    """One intermediate of a step: its name, the formula that gives it, and its value."""

    name: str
    formula: str
    value: Any

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.value))

    def to_dict(self) -> dict[str, Any]:
        v = _clean(self.value)
        return {
            "name": self.name,
            "formula": self.formula,
            "shape": list(self.shape),
            "value": v.tolist() if isinstance(v, np.ndarray) else v,
        }


@dataclass(frozen=True)
class Explanation:
    """A titled sequence of quantities plus the convention used and notes for the learner."""

    title: str
    convention: str
    quantities: list[Quantity]
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        for q in self.quantities:
            if q.name == name:
                return q.value
        raise KeyError(f"No quantity named {name!r}; have {[q.name for q in self.quantities]}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "convention": self.convention,
            "quantities": [q.to_dict() for q in self.quantities],
            "notes": list(self.notes),
        }


def _convention(reduction: str) -> str:
    if reduction == "mean":
        return ("mean reduction: L = (1/m) sum (y_hat - y)^2, k = dL/dy_hat = (2/m)(y_hat - y), "
                "grad = X^T k")
    return ("sum reduction (the lesson's): L = sum (y_hat - y)^2, k = dL/dy_hat = 2 (y_hat - y), "
            "grad = X^T k (no 1/m)")


def _mean_beside_sum(loss: float, m: int, reduction: str) -> list[Quantity]:
    """With the sum convention, the mean loss beside it: the number the lesson prints
    (91.664233 for its two samples) is the mean, while its gradient uses the sum."""
    if reduction != "sum":
        return []
    return [Quantity("loss_mean", f"L / m, m = {m}: the mean, as the lesson prints it",
                     float(loss) / m)]


def explain_linear_step(way: int = 3, *, reduction: str = "mean", lr: float = WORKED_LR
                        ) -> Explanation:
    """One gradient step of linear regression on the lesson's data, Way 1, 2 or 3.

    Parameters
    ----------
    way : {1, 2, 3}
        1: columns layout, 2 samples; 2: rows layout, 2 samples; 3: rows layout, 4 samples.
    reduction : {'mean', 'sum'}
    lr : learning rate (the lesson's 0.01)
    """
    check_choice(way, "way", (1, 2, 3))
    check_choice(reduction, "reduction", ("mean", "sum"))
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    m = 4 if way == 3 else 2
    x, y = WORKED_X[:m], WORKED_Y[:m]
    theta = WORKED_THETA.copy()
    if way == 1:
        X = np.vstack([x, np.ones(m)])  # (n+1, m): features x samples, a row of ones for b
        theta_col = theta[:, None]  # (n+1, 1)
        y_hat = theta_col.T @ X  # (1, m)
        Y = y[None, :]
        residual = y_hat - Y
        loss, k = mse(y_hat[0], y, reduction=reduction)
        k_row = k[None, :]  # (1, m)
        grad = X @ k_row.T  # (n+1, 1)
        theta_new = theta_col - lr * grad
        loss_new, _ = mse((theta_new.T @ X)[0], y, reduction=reduction)
        qs = [
            Quantity("X", "rows [x; 1], one column per sample", X),
            Quantity("y", "labels as a row", Y),
            Quantity("theta", "[w; b]", theta_col),
            Quantity("y_hat", "theta^T X", y_hat),
            Quantity("residual", "y_hat - y", residual),
            Quantity("loss", "L(theta)", loss),
            *_mean_beside_sum(loss, m, reduction),
            Quantity("k", "dL/dy_hat", k_row),
            Quantity("grad", "X k^T", grad),
            Quantity("theta_new", "theta - lr * grad", theta_new),
            Quantity("loss_new", "L(theta_new)", loss_new),
        ]
        title = "Linear regression, Way 1: samples as columns, X of shape (n+1, m)"
    else:
        X = np.column_stack([x, np.ones(m)])  # (m, n+1): a column of ones for b
        y_hat = X @ theta
        residual = y_hat - y
        loss, k = mse(y_hat, y, reduction=reduction)
        grad = X.T @ k
        theta_new = theta - lr * grad
        loss_new, _ = mse(X @ theta_new, y, reduction=reduction)
        qs = [
            Quantity("X", "rows [x, 1], one row per sample", X),
            Quantity("y", "labels", y),
            Quantity("theta", "[w, b]", theta),
            Quantity("y_hat", "X theta", y_hat),
            Quantity("residual", "y_hat - y", residual),
            Quantity("loss", "L(theta)", loss),
            *_mean_beside_sum(loss, m, reduction),
            Quantity("k", "dL/dy_hat", k),
            Quantity("grad", "X^T k", grad),
            Quantity("theta_new", "theta - lr * grad", theta_new),
            Quantity("loss_new", "L(theta_new)", loss_new),
        ]
        title = (f"Linear regression, Way {way}: samples as rows, X of shape (m, n+1), "
                 f"{'mini-batch of ' if way == 3 else ''}{m} samples")
    notes = [
        f"lr = {lr}; theta0 = [w, b] = [-0.34, 0.049]",
        "Keep shapes consistent: a column vector (n, 1) and a flat (n,) array broadcast "
        "differently.",
        "A learning rate that is too large makes the loss grow instead of fall (divergence).",
    ]
    if way == 3:
        notes.append("Batch size trades gradient noise for cost per step.")
        if reduction == "mean":
            notes.append("The lesson prints 72.225 and a new loss of 29.8165; its own formulas "
                         "give 72.223747 and 13.95981197 (shown above, exact in float64).")
    return Explanation(title, _convention(reduction), qs, notes)


def explain_logistic_step(*, lr: float = 0.1) -> Explanation:
    """One step of vectorized logistic regression as in lesson L4 (samples as columns).

    X has shape (n, m) = (2, 4); Z = w^T X + b, A = sigmoid(Z), dZ = A - Y,
    dw = X dZ^T / m, db = mean(dZ).
    """
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    X = np.array([[1.0, 2.0, -1.0, 0.5], [0.5, -1.0, 2.0, 1.0]])
    Y = np.array([[1.0, 0.0, 1.0, 0.0]])
    w = np.array([[0.1], [-0.2]])
    b = 0.0
    m = X.shape[1]
    Z = w.T @ X + b  # b broadcasts to every column
    A = expit(Z)
    loss, _ = bce(Z[0], Y[0])
    dZ = A - Y
    dw = X @ dZ.T / m
    db = float(np.sum(dZ) / m)
    w_new, b_new = w - lr * dw, b - lr * db
    loss_new, _ = bce((w_new.T @ X + b_new)[0], Y[0])
    qs = [
        Quantity("X", "features x samples", X),
        Quantity("Y", "labels in {0, 1}", Y),
        Quantity("w", "weights", w),
        Quantity("b", "bias", b),
        Quantity("Z", "w^T X + b", Z),
        Quantity("A", "sigmoid(Z)", A),
        Quantity("loss", "mean(log(1 + e^Z) - Y Z)  (BCE from logits)", loss),
        Quantity("dZ", "A - Y", dZ),
        Quantity("dw", "X dZ^T / m", dw),
        Quantity("db", "sum(dZ) / m", db),
        Quantity("w_new", "w - lr dw", w_new),
        Quantity("b_new", "b - lr db", b_new),
        Quantity("loss_new", "L(w_new, b_new)", loss_new),
    ]
    return Explanation(
        "Logistic regression, one vectorized step (L4): samples as columns",
        "mean reduction; BCE computed from logits as log(1 + e^z) - y z, never log(sigmoid(z))",
        qs,
        [f"lr = {lr}", "No loop over samples or features: only the outer loop over iterations."],
    )


def explain_softmax_step(*, lr: float = 0.5) -> Explanation:
    """One step of softmax regression with categorical cross-entropy (L2), samples as rows."""
    lr = check_scalar(lr, "lr", low=0.0, closed="neither")
    X = np.array([[1.0, 2.0], [2.0, -1.0], [-1.5, 0.5]])
    labels = np.array([0, 1, 2])
    Y = np.eye(3)[labels]
    W = np.array([[0.2, -0.1, 0.0], [0.1, 0.3, -0.2]])
    b = np.zeros(3)
    m = X.shape[0]
    Z = X @ W + b
    # exp overflows above ~709; softmax is shift-invariant, so subtract the row max
    Z_shift = Z - Z.max(axis=1, keepdims=True)
    Y_hat = softmax(Z, axis=1)
    loss, _ = cce(Z, labels)
    dZ = Y_hat - Y
    dW = X.T @ dZ / m
    db = dZ.sum(axis=0) / m
    W_new, b_new = W - lr * dW, b - lr * db
    loss_new, _ = cce(X @ W_new + b_new, labels)
    qs = [
        Quantity("X", "samples as rows", X),
        Quantity("Y", "one-hot labels", Y),
        Quantity("W", "weights, (n, K)", W),
        Quantity("b", "biases, (K,)", b),
        Quantity("Z", "X W + b", Z),
        Quantity("Z_shifted", "Z - max(Z, row): the stable softmax", Z_shift),
        Quantity("Y_hat", "softmax(Z)", Y_hat),
        Quantity("loss", "mean(logsumexp(Z) - sum(Y Z))  (CCE)", loss),
        Quantity("dZ", "Y_hat - Y", dZ),
        Quantity("dW", "X^T dZ / m", dW),
        Quantity("db", "sum(dZ, rows) / m", db),
        Quantity("W_new", "W - lr dW", W_new),
        Quantity("b_new", "b - lr db", b_new),
        Quantity("loss_new", "L(W_new, b_new)", loss_new),
    ]
    return Explanation(
        "Softmax regression, one step with categorical cross-entropy (L2)",
        "mean reduction; dL/dZ = Y_hat - Y (one-hot Y), the Jacobian y_k(delta_kj - y_j) folded in",
        qs,
        [f"lr = {lr}", "Rows of Y_hat sum to 1; subtracting the row max does not change them."],
    )


def explain_auto_lr() -> Explanation:
    """Where the estimators' default learning rate comes from (lr='auto'), on L1's example.

    The MSE's Hessian is H = 2 X~^T X~ / m (X~ = [x, 1]) whatever theta is; its largest
    eigenvalue L bounds how fast the gradient changes. A step of 1/L never increases the loss;
    beyond 2/L the steepest direction grows every step (divergence).
    """
    Xt = np.column_stack([WORKED_X, np.ones_like(WORKED_X)])
    m = Xt.shape[0]
    H = 2.0 * Xt.T @ Xt / m
    L = float(np.linalg.eigvalsh(H)[-1])
    y_mean, y_scale = float(WORKED_Y.mean()), float(WORKED_Y.std())
    return Explanation(
        "The default learning rate, lr='auto' (1/L), on the L1 example",
        "mean over samples, as the estimators use",
        [
            Quantity("X", "[x, 1]: samples as rows with a column of ones", Xt),
            Quantity("H", "2 X^T X / m: the Hessian of the mean squared error", H),
            Quantity("L", "largest eigenvalue of H (+ alpha with an L2 term)", L),
            Quantity("lr_auto", "1 / L: the step that never increases the loss", 1.0 / L),
            Quantity("lr_diverge", "2 / L: beyond it the loss grows every step", 2.0 / L),
            Quantity("y_mean", "mean(y): where the intercept starts", y_mean),
            Quantity("y_scale", "std(y): LinearRegression fits (y - y_mean) / y_scale", y_scale),
        ],
        [
            f"The lesson's lr = {WORKED_LR} is {WORKED_LR * L:.3g} times 1/L: below it, so "
            "every step lowers the loss.",
            "gd, momentum, nesterov: lr = 1/L. Adam, AdamW, Adagrad, RMSprop: lr = max|g0| / L, "
            "the largest coordinate move of gradient descent's first step.",
            "An explicit lr is used exactly; lr='auto' is the estimators' default (lr_ holds "
            "the rate used).",
            "coef_ and intercept_ are reported on y's own scale: coef = W * y_scale, "
            "intercept = b * y_scale + y_mean.",
            "A loss that grows past 10 times its first epoch's, or rises 5 epochs in a row "
            "above it, stops the fit with a DivergenceError before it overflows.",
        ],
    )


def explain_all(*, reduction: str = "mean") -> list[Explanation]:
    """Ways 1-3 of the linear example, one logistic and one softmax step, then where the
    default learning rate comes from."""
    return [explain_linear_step(w, reduction=reduction) for w in (1, 2, 3)] + [
        explain_logistic_step(),
        explain_softmax_step(),
        explain_auto_lr(),
    ]


def format_value(value: Any) -> str:
    """Numbers with 10 significant digits, arrays on one line per row."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return f"{float(arr):.10g}"
    return np.array2string(
        arr, separator=", ", max_line_width=100,
        formatter={"float_kind": lambda v: f"{v:.10g}"},
    )


__all__ = [
    "Explanation",
    "Quantity",
    "explain_all",
    "explain_auto_lr",
    "explain_linear_step",
    "explain_logistic_step",
    "explain_softmax_step",
    "format_value",
]
