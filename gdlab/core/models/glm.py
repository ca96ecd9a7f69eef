"""The one model all three lessons use: logits z = X W + b, a link, and a loss.

Parameters live in one flat vector ``theta`` of length n_features * n_outputs + n_outputs
(W row-major, then b), so optimizers see a single array, state is plain arrays, and a
gradient over row blocks is a plain sum. With one output this is the lesson's theta = [w; b].

Layouts
-------
``layout="rows"`` (default, scikit-learn / PyTorch, lesson Way 2): X has shape
(n_samples, n_features) and logits = X W + b, shape (n_samples, K).
``layout="columns"`` (lesson Way 1 and L4): X has shape (n_features, n_samples) and
logits = W^T X + b, shape (K, n_samples); dW = X dZ^T.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, softmax

from gdlab.core._validation import (
    as_float_array,
    check_choice,
    check_consistent_length,
    check_scalar,
    check_shape,
)
from gdlab.core.losses import get_loss
from gdlab.core.models.base import register_model

Array = NDArray[np.floating[Any]]


def finish_flat(loss: Any, g: Array, w: Array, nk: int, alpha: float, fit_intercept: bool
                ) -> Any:
    """The intercept rule and the L2 term on a flat gradient, in place; returns the loss.

    ``g`` is the data term's gradient (weights ``g[:nk]``, then the biases), ``w`` the flat
    weights (at least ``nk`` long; the biases after them are not read). Without an intercept
    the bias gradient is zero; with ``alpha`` the loss gains ``alpha / 2 ||W||^2`` and
    ``g[:nk]`` gains ``alpha W`` (the bias is unpenalized). Plain NumPy that numba also
    compiles: the compiled epoch (:mod:`gdlab.engines.fastepoch`) calls it too.
    """
    if not fit_intercept:
        g[nk:] = 0.0
    if alpha != 0.0:
        W = w[:nk]
        loss = loss + 0.5 * alpha * float(np.dot(W, W))
        g[:nk] += alpha * W
    return loss


LINKS = {"mse": "identity", "bce": "sigmoid", "cce": "softmax",
         "softmax_mse": "softmax", "softmax_bce": "softmax"}
LAYOUTS = ("rows", "columns")


@register_model
@dataclass(frozen=True)
class GLM:
    """A generalized linear model on a flat parameter vector.

    Parameters
    ----------
    n_features : int
        Number of input features n.
    n_outputs : int
        Number of logits K (1 for linear and logistic regression, the classes for softmax).
    loss : {'mse', 'bce', 'cce', 'softmax_mse', 'softmax_bce'}
        The loss, which also fixes the link (identity, sigmoid or softmax).
    layout : {'rows', 'columns'}
        Whether samples are the rows of X (default) or its columns.
    fit_intercept : bool
        Whether b is learned; when False it stays at zero and its gradient is zero.
    """

    name: ClassVar[str] = "glm"

    n_features: int
    n_outputs: int = 1
    loss: str = "mse"
    layout: str = "rows"
    fit_intercept: bool = True

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON (the model protocol; see gdlab.core.models.base)."""
        return {"n_features": self.n_features, "n_outputs": self.n_outputs, "loss": self.loss,
                "layout": self.layout, "fit_intercept": self.fit_intercept}

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_scalar(self.n_features, "n_features", kind=int, low=1, owner=name)
        check_scalar(self.n_outputs, "n_outputs", kind=int, low=1, owner=name)
        check_choice(self.loss, "loss", LINKS, owner=name)
        check_choice(self.layout, "layout", LAYOUTS, owner=name)
        if LINKS[self.loss] == "softmax" and self.n_outputs < 2:
            raise ValueError(
                f"The 'n_outputs' parameter of {name} must be >= 2 for a softmax loss, got "
                f"{self.n_outputs}. Softmax needs at least two classes."
            )

    # ---- parameters -------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """Length of theta: n_features * n_outputs weights + n_outputs biases."""
        return self.n_features * self.n_outputs + self.n_outputs

    @property
    def link(self) -> str:
        """'identity', 'sigmoid' or 'softmax'."""
        return LINKS[self.loss]

    def unpack(self, theta: Array) -> tuple[Array, Array]:
        """Views of theta as W of shape (n_features, n_outputs) and b of shape (n_outputs,)."""
        check_shape(np.asarray(theta), "theta", (self.n_params,))
        nk = self.n_features * self.n_outputs
        return theta[:nk].reshape(self.n_features, self.n_outputs), theta[nk:]

    def pack(self, W: Array, b: Array | float) -> Array:
        """Flatten W (n_features, n_outputs) and b (n_outputs,) into theta."""
        W = np.asarray(W, dtype=np.result_type(W, np.float32))
        W = W.reshape(self.n_features, self.n_outputs)
        b_arr = np.broadcast_to(np.asarray(b, dtype=W.dtype), (self.n_outputs,))
        return np.concatenate([W.ravel(), b_arr])

    def init(
        self,
        random_state: int | np.random.Generator | None = 0,
        *,
        scale: float = 0.01,
        dtype: Any = np.float64,
    ) -> Array:
        """Seeded initial theta: W ~ N(0, scale^2), b = 0 (scale=0 gives all zeros)."""
        rng = np.random.default_rng(random_state)
        W = scale * rng.standard_normal((self.n_features, self.n_outputs))
        return self.pack(W.astype(dtype), np.zeros(self.n_outputs, dtype=dtype))

    # ---- forward ----------------------------------------------------------------------
    def check_X(self, X: Any) -> Array:
        """Validate X: 2-D, finite, numeric, with n_features along the feature axis."""
        X = as_float_array(X, "X", ndim=2)
        axis = 1 if self.layout == "rows" else 0
        if X.shape[axis] != self.n_features:
            where = "columns" if axis == 1 else "rows"
            raise ValueError(
                f"X has {X.shape[axis]} features ({where} of an array of shape {X.shape}), but "
                f"the model is expecting {self.n_features} features as input "
                f"(layout={self.layout!r})."
            )
        return X

    def logits(self, theta: Array, X: Array) -> Array:
        """z = X W + b of shape (m, K) for rows; W^T X + b of shape (K, m) for columns.

        With one output the trailing axis is dropped: shape (m,).
        """
        W, b = self.unpack(theta)
        if self.layout == "rows":
            z = X @ W + b
            return z[:, 0] if self.n_outputs == 1 else z
        Z = W.T @ X + b[:, None]
        return Z[0] if self.n_outputs == 1 else Z

    def forward(self, theta: Array, X: Array) -> Array:
        """Model output y_hat: the logits through the link (identity, sigmoid or softmax)."""
        z = self.logits(theta, X)
        if self.link == "identity":
            return z
        if self.link == "sigmoid":
            return expit(z)
        return softmax(z, axis=1 if self.layout == "rows" else 0)

    # ---- loss and gradient ------------------------------------------------------------
    def check_targets(self, y: Any, m: int) -> Array:
        """Targets for m rows as loss_and_grad takes them: (m,) or (m, K) floats, or integer
        labels (m,) for a softmax head."""
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(
                f"Input y must be numeric, got dtype {y.dtype}. Encode labels as integers "
                "0..K-1 first."
            )
        if self.layout == "columns" and y.ndim == 2:
            y = y.T  # (K, m) -> (m, K); (1, m) -> (m, 1)
        if y.ndim == 2 and y.shape[1] == 1 and self.n_outputs == 1:
            y = y[:, 0]
        check_consistent_length(("X", m), ("y", y.shape[0]))
        y = as_float_array(y, "y", ndim=(1, 2)) if y.dtype.kind == "f" else y
        if self.link == "softmax" and y.ndim == 1:
            return y  # integer labels; the loss one-hot encodes them
        want = (m,) if self.n_outputs == 1 else (m, self.n_outputs)
        if y.shape != want:
            raise ValueError(
                f"Input y must have shape {want} for a model with {self.n_outputs} output(s), "
                f"got {y.shape}."
            )
        return y.astype(np.float64, copy=False) if y.dtype.kind != "f" else y

    def loss_and_grad(
        self,
        theta: Array,
        X: Array,
        y: Any,
        *,
        sample_weight: Array | None = None,
        reduction: str = "mean",
        alpha: float = 0.0,
    ) -> tuple[float, Array]:
        """Loss and its gradient with respect to theta, with no loop over samples or features.

        Parameters
        ----------
        theta : array of shape (n_params,)
        X : array of shape (m, n_features) for rows, (n_features, m) for columns
        y : targets of shape (m,) (or (m, K); labels (m,) for softmax)
        sample_weight : array of shape (m,), optional
        reduction : {'mean', 'sum'}
        alpha : float
            L2 penalty (alpha / 2) ||W||^2 added to the loss (the bias is not penalized).

        Returns
        -------
        loss : float
        grad : array of shape (n_params,)
        """
        self.unpack(theta)  # checks theta's shape
        m = X.shape[0] if self.layout == "rows" else X.shape[1]
        return self.loss_and_grad_checked(theta, X, self.check_targets(y, m),
                                          sample_weight=sample_weight, reduction=reduction,
                                          alpha=alpha)

    def loss_and_grad_checked(self, theta: Array, X: Array, y: Array, *,
                              sample_weight: Array | None = None, reduction: str = "mean",
                              alpha: float = 0.0) -> tuple[float, Array]:
        """:meth:`loss_and_grad` for inputs already validated (the training loop's hot path:
        y as returned by the model's target check, theta of length n_params)."""
        nk = self.n_features * self.n_outputs
        W, b = theta[:nk].reshape(self.n_features, self.n_outputs), theta[nk:]
        if self.layout == "rows":
            z = X @ W + b
        else:
            z = (W.T @ X + b[:, None]).T
        z_rows = z[:, 0] if self.n_outputs == 1 else z
        loss, dz = get_loss(self.loss)(z_rows, y, reduction=reduction,
                                       sample_weight=sample_weight)
        dz2 = dz[:, None] if dz.ndim == 1 else dz
        # dL/dW = X^T dL/dz (rows) or X dZ^T (columns): the identity every lesson derives
        gW = X.T @ dz2 if self.layout == "rows" else X @ dz2
        return self.finish(loss, gW, dz2.sum(axis=0), W, alpha)

    def finish(self, loss: float, gW: Array, gb: Array, W: Array, alpha: float
               ) -> tuple[float, Array]:
        """The flat gradient from the data term's dL/dW (n_features, K) and dL/db (K,): the
        bias gradient zeroed without an intercept, then the L2 term added (see penalty)."""
        g = np.concatenate([gW.ravel(), gb])
        return finish_flat(loss, g, W.ravel(), gW.size, alpha, self.fit_intercept), g

    def penalty(self, theta: Array, alpha: float) -> tuple[float, Array]:
        """``alpha / 2 ||W||^2`` and its gradient ``[alpha W, 0]`` (the bias is unpenalized)."""
        grad = np.zeros_like(theta)
        return finish_flat(0.0, grad, theta, self.n_features * self.n_outputs, alpha, True), grad

    #: bound on the second derivative of the loss in the logits, per loss (None: no bound used)
    CURVATURE: ClassVar[dict[str, float | None]] = {
        "mse": 2.0, "bce": 0.25, "cce": 0.5, "softmax_mse": None, "softmax_bce": None}

    def lipschitz(self, X: Array, sample_weight: Array | None = None, alpha: float = 0.0
                  ) -> tuple[float, float] | None:
        """(L, L_max): Lipschitz constants of the mean loss's gradient over all rows and over
        the worst single row, c * lambda_max(X~^T D X~) + alpha and
        c * max_i (m D_i ||x~_i||^2) + alpha, with X~ = [X, 1] (the column of ones only with
        an intercept), D the normalized sample weights and c the loss's curvature bound
        (:data:`CURVATURE`). None for the softmax-MSE / softmax-BCE comparison losses."""
        c = self.CURVATURE[self.loss]
        if c is None:
            return None
        X = np.asarray(X, dtype=np.float64)
        if self.layout == "columns":
            X = X.T
        m = X.shape[0]
        d = (np.full(m, 1.0 / m) if sample_weight is None
             else np.asarray(sample_weight, dtype=np.float64) / float(np.sum(sample_weight)))
        one = 1.0 if self.fit_intercept else 0.0
        row_sq = np.einsum("ij,ij->i", X, X) + one
        L_max = c * float(np.max(m * d * row_sq)) + alpha
        n = X.shape[1]
        if n + 1 <= 256:
            Xt = np.column_stack([X, np.full(m, one)])
            lam = float(np.linalg.eigvalsh((Xt * d[:, None]).T @ Xt)[-1])
        else:
            from gdlab.core.auto_lr import top_eigenvalue

            def matvec(v: Array) -> Array:
                u = d * (X @ v[:n] + one * v[n])
                return np.concatenate([X.T @ u, [one * u.sum()]])

            lam = top_eigenvalue(matvec, n + 1)
        return c * lam + alpha, L_max

    def loss_value(self, theta: Array, X: Array, y: Any, **kwargs: Any) -> float:
        """The loss alone (see loss_and_grad)."""
        return self.loss_and_grad(theta, X, y, **kwargs)[0]
