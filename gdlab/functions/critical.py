"""Critical points of a symbolic function: Newton's method on the gradient from a grid of starts.

All starts iterate together: one vectorized gradient and Hessian evaluation per step, and one
`np.linalg.solve` on the stack of Hessians. Converged points are de-duplicated, kept if inside
the domain, and classified by the eigenvalues of the Hessian.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdlab.core._validation import check_scalar
from gdlab.functions.symbolic import SymbolicFunction

__all__ = ["CriticalPoint", "find_critical_points", "classify_hessian"]

KINDS = ("minimum", "maximum", "saddle", "degenerate")


@dataclass(frozen=True)
class CriticalPoint:
    """A point where the gradient vanishes.

    Attributes
    ----------
    point : ndarray of shape (d,)
    value : float
        f(point).
    kind : {'minimum', 'maximum', 'saddle', 'degenerate'}
    eigenvalues : ndarray of shape (d,)
        Eigenvalues of the Hessian at the point, ascending.
    max_stable_lr : float or None
        For a minimum, 2 / lambda_max: plain gradient descent with a learning rate below this
        converges near the point, above it oscillates away. None for other kinds.
    """

    point: NDArray[np.float64]
    value: float
    kind: str
    eigenvalues: NDArray[np.float64] = field(repr=False)
    max_stable_lr: float | None = None

    def __repr__(self) -> str:
        pt = ", ".join(f"{v:.6f}" for v in self.point)
        return f"CriticalPoint(({pt}), value={self.value:.6f}, kind={self.kind!r})"


def classify_hessian(eigenvalues: ArrayLike, rtol: float = 1e-8) -> str:
    """'minimum', 'maximum', 'saddle' or 'degenerate' from the Hessian's eigenvalues.

    An eigenvalue is treated as zero when its magnitude is at most
    ``rtol * max(1, max |eigenvalue|)``; any zero makes the point degenerate (the second
    derivative test cannot decide).
    """
    eig = np.asarray(eigenvalues, dtype=np.float64)
    tiny = rtol * max(1.0, float(np.max(np.abs(eig))))
    if np.any(np.abs(eig) <= tiny):
        return "degenerate"
    if np.all(eig > 0):
        return "minimum"
    if np.all(eig < 0):
        return "maximum"
    return "saddle"


def _check_domain(domain: Sequence[Sequence[float]], d: int) -> NDArray[np.float64]:
    try:
        box = np.asarray(domain, dtype=np.float64)
    except (TypeError, ValueError):
        box = np.empty((0,))
    if box.shape == (2,) and d == 1:
        box = box[None, :]
    if box.shape != (d, 2) or not np.all(np.isfinite(box)) or np.any(box[:, 0] >= box[:, 1]):
        raise ValueError(
            f"The 'domain' parameter of find_critical_points must be {d} pair(s) (lo, hi) with "
            f"lo < hi, one per variable. Got {domain!r} instead. Pass e.g. "
            f"{[(-3.0, 3.0)] * d}."
        )
    return box


def _starts(
    box: NDArray[np.float64], grid: int, n_random: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    d = box.shape[0]
    if d <= 3:
        axes = [np.linspace(lo, hi, grid) for lo, hi in box]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)
    # a full grid has grid**d points: sample instead
    return box[:, 0] + (box[:, 1] - box[:, 0]) * rng.random((n_random, d))


def _newton_step(g: NDArray[np.float64], H: NDArray[np.float64]) -> NDArray[np.float64]:
    """H^-1 g row by row; NaN rows where H is (numerically) singular."""
    step = np.full_like(g, np.nan)
    scale = np.prod(np.linalg.norm(H, axis=-1), axis=-1)  # Hadamard bound on |det H|
    with np.errstate(all="ignore"):
        ok = np.abs(np.linalg.det(H)) > 1e-13 * scale
    if not ok.any():
        return step
    try:
        step[ok] = np.linalg.solve(H[ok], g[ok][..., None])[..., 0]
    except np.linalg.LinAlgError:  # an exactly singular matrix slipped through: go row-wise
        for i in np.flatnonzero(ok):
            try:
                step[i] = np.linalg.solve(H[i], g[i])
            except np.linalg.LinAlgError:
                pass
    return step


def find_critical_points(
    func: SymbolicFunction,
    domain: Sequence[Sequence[float]],
    *,
    grid: int = 41,
    tol: float = 1e-10,
    max_iter: int = 100,
    n_random: int = 5000,
    seed: int | np.random.Generator = 0,
) -> list[CriticalPoint]:
    """All critical points of `func` that Newton's method reaches from a grid of starts.

    Parameters
    ----------
    func : SymbolicFunction
        A function of d variables.
    domain : sequence of d pairs (lo, hi)
        The box searched; points found outside it are dropped.
    grid : int, default=41
        Starts per dimension for d <= 3 (``grid**d`` starts).
    tol : float, default=1e-10
        A start has converged when its Newton step is shorter than ``tol`` times the domain
        width.
    max_iter : int, default=100
        Newton iterations at most.
    n_random : int, default=5000
        For d > 3: number of uniformly random starts in the box.
    seed : int or numpy.random.Generator, default=0
        Randomness for the starts when d > 3.

    Returns
    -------
    list of CriticalPoint
        Sorted by kind (minimum, maximum, saddle, degenerate), then by value.
    """
    if not isinstance(func, SymbolicFunction):
        raise TypeError(
            f"find_critical_points needs a SymbolicFunction, got {type(func).__name__}. "
            "Build one with gdlab.functions.symbolic.compile_function('x^2 + y^2')."
        )
    grid = check_scalar(grid, "grid", kind=int, low=2, owner="find_critical_points")
    tol = check_scalar(tol, "tol", low=0.0, closed="neither", owner="find_critical_points")
    max_iter = check_scalar(max_iter, "max_iter", kind=int, low=1, owner="find_critical_points")
    n_random = check_scalar(n_random, "n_random", kind=int, low=1, owner="find_critical_points")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    d = func.n_vars
    box = _check_domain(domain, d)
    width = float(np.max(box[:, 1] - box[:, 0]))
    X = _starts(box, grid, n_random, rng)
    # the gradient's typical size, to judge "zero gradient" relative to the function's scale
    g0 = np.linalg.norm(func.grad(X), axis=-1)
    g0 = g0[np.isfinite(g0)]
    g_scale = max(1.0, float(np.median(g0))) if g0.size else 1.0
    done = np.zeros(len(X), dtype=bool)
    alive = np.ones(len(X), dtype=bool)
    step_tol = tol * width
    for _ in range(max_iter):
        idx = np.flatnonzero(alive & ~done)
        if idx.size == 0:
            break
        x = X[idx]
        step = _newton_step(func.grad(x), func.hessian(x))
        x_new = x - step
        # singular Hessians, NaNs and runaways far outside the box are dropped
        far = np.any(np.abs(x_new - box.mean(axis=1)) > 10 * width, axis=-1)
        bad = ~np.all(np.isfinite(x_new), axis=-1) | far
        alive[idx[bad]] = False
        X[idx[~bad]] = x_new[~bad]
        done[idx[~bad]] = np.linalg.norm(step[~bad], axis=-1) <= step_tol
    # converged: tiny last step, and a gradient that is small against the function's scale
    keep = alive & done
    inside = np.all((X >= box[:, 0] - 1e-9 * width) & (X <= box[:, 1] + 1e-9 * width), axis=-1)
    keep &= inside
    if keep.any():  # a short last step on a flat plateau is not a critical point
        g_norm = np.linalg.norm(func.grad(X[keep]), axis=-1)
        keep[np.flatnonzero(keep)[~(g_norm <= 1e-6 * g_scale)]] = False
    return _collect(func, X[keep], width)


def _collect(
    func: SymbolicFunction, X: NDArray[np.float64], width: float
) -> list[CriticalPoint]:
    radius = 1e-6 * width
    U = np.empty_like(X)
    n = 0
    for x in X:  # one vectorized distance test per converged start
        if n == 0 or np.min(np.linalg.norm(U[:n] - x, axis=-1)) >= radius:
            U[n] = x
            n += 1
    if n == 0:
        return []
    U = U[:n]
    values = func.value(U)
    eigs = np.linalg.eigvalsh(func.hessian(U))
    points = []
    for x, v, eig in zip(U, values, eigs, strict=True):
        kind = classify_hessian(eig)
        lr = 2.0 / float(eig[-1]) if kind == "minimum" else None
        points.append(CriticalPoint(x.copy(), float(v), kind, eig, lr))
    points.sort(key=lambda p: (KINDS.index(p.kind), p.value))
    return points
