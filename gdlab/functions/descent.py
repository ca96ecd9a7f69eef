"""Minimize a function by gradient descent: one start, many starts at once, basins of attraction.

The function is a problem with no data: ``value_and_grad(P)`` for points ``P`` of shape
``(..., d)``. The same loop serves one start and 10,000 starts: the starts are the rows of one
``(n_starts, d)`` array, and the optimizers of :mod:`gdlab.core.optim` are element-wise, so the
batch goes through ``opt.update`` in one call per step. A start that finishes (converged,
diverged, left the domain) is frozen: it is dropped from the active rows, so its end point,
step count and status are exactly what :func:`minimize` gives for that start alone.

The loop, per step ``k = 0, 1, ..., steps`` and per active start::

    f_k, g_k = value_and_grad(x_k)
    non-finite f_k, g_k or x_k, or |x_k| > max_norm  -> 'diverged'
    x_k outside the domain                            -> 'left_domain'
    |g_k| <= tol                                      -> 'converged'
    k == steps                                        -> 'step_limit'
    otherwise  x_{k+1} = x_k + opt.update(g_k, ..., lr_k)

``lr_k = schedule(k, lr)``; with ``lr_mode="grad_scaled"`` it is further multiplied by
``|g_k|`` (the Euclidean norm of this start's gradient): the "dynamic learning rate" of the
lessons' code challenge, in which the step shrinks as the slope flattens (``lr * |f'(x)|`` in
1-D). The time-based variant is the schedule ``"dynamic"`` (``lr * (1 - k/T)``).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdlab.core._validation import check_choice, check_scalar
from gdlab.core.optim import get_optimizer
from gdlab.core.schedules import schedule_for_run
from gdlab.functions.critical import CriticalPoint, find_critical_points
from gdlab.functions.surfaces import SURFACES, Surface, get_surface
from gdlab.functions.symbolic import SymbolicFunction, compile_function

__all__ = [
    "STATUSES",
    "BasinResult",
    "DescentResult",
    "MultiStartResult",
    "Objective",
    "as_objective",
    "basins",
    "critical_points",
    "grid_starts",
    "make_schedule",
    "minimize",
    "minimize_many",
]

STATUSES = ("converged", "step_limit", "diverged", "left_domain")
_CONVERGED, _STEP_LIMIT, _DIVERGED, _LEFT = range(4)
LR_MODES = ("fixed", "grad_scaled")

FunctionLike = Any  # SymbolicFunction | Surface | str | Callable[[ndarray], (value, grad)]


# -- the function ------------------------------------------------------------------------------


@dataclass
class Objective:
    """A function to minimize, whatever form it was given in.

    Attributes
    ----------
    value_and_grad : callable
        ``P (..., d) -> (values (...), grads (..., d))``.
    n_vars : int or None
        Number of variables (None for a bare callable until a start fixes it).
    name : str
        Short text for titles and legends.
    domain : ndarray of shape (d, 2) or None
        The default box (a named surface's domain), None when unbounded.
    function : SymbolicFunction or None
        Present when derivatives are symbolic (needed for critical points and Hessians).
    variables : tuple of str
    surface : Surface or None
    """

    value_and_grad: Callable[[NDArray[Any]], tuple[NDArray[Any], NDArray[Any]]]
    n_vars: int | None
    name: str
    domain: NDArray[np.float64] | None = None
    function: SymbolicFunction | None = None
    variables: tuple[str, ...] = ()
    surface: Surface | None = None

    def value(self, P: ArrayLike) -> NDArray[Any]:
        """f at points of shape (..., d)."""
        if self.function is not None:
            return self.function.value(P)
        return np.asarray(self.value_and_grad(np.asarray(P, dtype=float))[0])


def as_objective(f: FunctionLike, variables: Sequence[str] | None = None, *,
                 hessian: bool = False) -> Objective:
    """Turn a surface name, an expression, a SymbolicFunction, a Surface or a callable into an
    :class:`Objective`.

    A string is a surface name from :data:`gdlab.functions.surfaces.SURFACES` when it is one, else
    an
    expression compiled by the safe parser (``variables`` fixes their order; ``hessian=True``
    derives its Hessian within the same time budget). A callable must return
    ``(value, grad)`` for points of shape ``(..., d)``.
    """
    if isinstance(f, Objective):
        return f
    if isinstance(f, str):
        key = f.strip().lower().replace("-", "_").replace(" ", "_")
        if key in SURFACES and variables is None:
            f = get_surface(key)
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{2,}", f.strip()) and variables is None:
            # a bare word is meant as a surface name (f(v) = v has no minimum to find)
            close = difflib.get_close_matches(key, SURFACES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown surface {f.strip()!r}.{hint} Choose one of {', '.join(SURFACES)}, or "
                "type a formula such as 'x^2 + 3*y^2'."
            )
        else:
            f = compile_function(f, variables, hessian=hessian)
    if isinstance(f, Surface):
        fn = f.function
        return Objective(fn.value_and_grad, f.n_vars, f.name, np.asarray(f.domain, float), fn,
                         tuple(f.variables), f)
    if isinstance(f, SymbolicFunction):
        names = tuple(s.name for s in f.variables)
        return Objective(f.value_and_grad, f.n_vars, f.text, None, f, names)
    if callable(f):
        name = getattr(f, "__name__", type(f).__name__)
        return Objective(f, None, name)
    raise TypeError(
        "The function to minimize must be a surface name, an expression string, a "
        "SymbolicFunction, a Surface or a callable P -> (value, grad). Got "
        f"{f!r} of type {type(f).__name__} instead. Pass e.g. 'peaks' or 'x^2 + 3*y^2'."
    )


def _check_box(domain: Any, d: int, owner: str) -> NDArray[np.float64]:
    try:
        box = np.asarray(domain, dtype=np.float64)
    except (TypeError, ValueError):
        box = np.empty((0,))
    if box.shape == (2,) and d == 1:
        box = box[None, :]
    if box.shape == (2 * d,):
        box = box.reshape(d, 2)
    if box.shape != (d, 2) or not np.all(np.isfinite(box)) or np.any(box[:, 0] >= box[:, 1]):
        raise ValueError(
            f"The 'domain' parameter of {owner} must be {d} pair(s) (lo, hi) with lo < hi, one "
            f"per variable. Got {domain!r} instead. Pass e.g. {[(-3.0, 3.0)] * d}."
        )
    return box


def _resolve_domain(obj: Objective, domain: Any, d: int, owner: str) -> NDArray[np.float64] | None:
    if domain is None:
        return obj.domain
    if isinstance(domain, str) and domain == "unbounded":
        return None
    return _check_box(domain, d, owner)


# -- results -----------------------------------------------------------------------------------


@dataclass
class DescentResult:
    """One descent.

    Attributes
    ----------
    x : ndarray of shape (d,)
        The last point (for 'left_domain' the first point outside the domain).
    value : float
        f(x).
    grad_norm : float
        |grad f(x)|.
    status : {'converged', 'step_limit', 'diverged', 'left_domain'}
    n_steps : int
        Updates made.
    points : ndarray of shape (n_steps + 1, d) or None
        x_0 ... x_{n_steps} (None when not recorded).
    values, grad_norms : ndarray of shape (n_steps + 1,) or None
    lrs : ndarray of shape (n_steps,) or None
        The learning rate of each update (for 'grad_scaled' the scaled rate).
    optimizer, lr, schedule, lr_mode : description used in legends
    """

    x: NDArray[np.floating]
    value: float
    grad_norm: float
    status: str
    n_steps: int
    points: NDArray[np.floating] | None = None
    values: NDArray[np.floating] | None = None
    grad_norms: NDArray[np.floating] | None = None
    lrs: NDArray[np.floating] | None = None
    optimizer: str = "gd"
    lr: float = 0.0
    schedule: str = "constant"
    lr_mode: str = "fixed"

    @property
    def label(self) -> str:
        """``"adam lr=0.05"`` (+ schedule and lr mode when not the defaults)."""
        text = f"{self.optimizer} lr={self.lr:g}"
        if self.schedule != "constant":
            text += f" {self.schedule}"
        if self.lr_mode != "fixed":
            text += " grad-scaled"
        return text

    @property
    def legend(self) -> str:
        """``"adam lr=0.05: converged (312 steps)"``."""
        return f"{self.label}: {self.status.replace('_', ' ')} ({self.n_steps} steps)"

    def as_dict(self, *, trajectory: bool = False) -> dict[str, Any]:
        """JSON-able summary; the trajectory arrays only when asked."""
        out: dict[str, Any] = {
            "x": [float(v) for v in self.x], "value": _json_float(self.value),
            "grad_norm": _json_float(self.grad_norm), "status": self.status,
            "n_steps": int(self.n_steps), "optimizer": self.optimizer, "lr": self.lr,
            "schedule": self.schedule, "lr_mode": self.lr_mode,
        }
        if trajectory and self.points is not None:
            assert self.values is not None and self.grad_norms is not None
            assert self.lrs is not None
            out["trajectory"] = {
                "points": [[_json_float(v) for v in p] for p in self.points],
                "values": [_json_float(v) for v in self.values],
                "grad_norms": [_json_float(v) for v in self.grad_norms],
                "lrs": [_json_float(v) for v in self.lrs],
            }
        return out


def _json_float(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class MultiStartResult:
    """Many starts descended as one batch.

    Attributes
    ----------
    starts : ndarray of shape (n, d)
    x : ndarray of shape (n, d)
        End points.
    value, grad_norm : ndarray of shape (n,)
    status : ndarray of shape (n,) of str
    n_steps : ndarray of shape (n,) of int
    recorded : dict of int to DescentResult
        Full trajectories for the starts asked for with ``record``.
    """

    starts: NDArray[np.floating]
    x: NDArray[np.floating]
    value: NDArray[np.floating]
    grad_norm: NDArray[np.floating]
    status: NDArray[np.str_]
    n_steps: NDArray[np.int64]
    recorded: dict[int, DescentResult] = field(default_factory=dict)
    optimizer: str = "gd"
    lr: float = 0.0
    schedule: str = "constant"
    lr_mode: str = "fixed"

    def __len__(self) -> int:
        return len(self.starts)

    def result(self, i: int) -> DescentResult:
        """Start ``i`` as a DescentResult (with its trajectory if it was recorded)."""
        if i in self.recorded:
            return self.recorded[i]
        return DescentResult(self.x[i].copy(), float(self.value[i]), float(self.grad_norm[i]),
                             str(self.status[i]), int(self.n_steps[i]), optimizer=self.optimizer,
                             lr=self.lr, schedule=self.schedule, lr_mode=self.lr_mode)

    def shares(self) -> dict[str, float]:
        """Fraction of starts per status."""
        n = max(len(self.status), 1)
        return {s: float(np.count_nonzero(self.status == s)) / n for s in STATUSES}


# -- the loop ------------------------------------------------------------------------------


def _describe(opt_spec: Any, opt: Any) -> str:
    if isinstance(opt_spec, str):
        return opt_spec.strip().lower()
    return type(opt).__name__.lower()


def _schedule_name(spec: Any) -> str:
    if spec is None:
        return "constant"
    if isinstance(spec, str):
        return spec.strip().lower()
    if hasattr(spec, "get_params"):  # a gdlab.core.schedules object
        return type(spec).__name__.lower()
    return str(getattr(spec, "__name__", "custom"))


def make_schedule(spec: Any, steps: int) -> Any:
    """A schedule for a run of ``steps`` updates.

    A name is built with settings scaled to the run (``"dynamic"``: ``lr (1 - k/steps)``,
    ``"cosine"``: ``T_max = steps``, ``"exponential"``: down to 1 % at the end, ``"step"``:
    x0.1 every third of the run, ...). Objects and callables are used as they are. A
    plateau schedule needs a metric per epoch and is refused.
    """
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in ("plateau", "reducelronplateau"):
            raise ValueError(
                "The 'schedule' 'plateau' reacts to a metric per epoch, which minimize does "
                "not report; choose a schedule of the step alone, e.g. 'dynamic' or 'cosine'."
            )
    return schedule_for_run(spec, steps)


def _descend(
    obj: Objective,
    X0: NDArray[np.floating],
    *,
    optimizer: Any,
    lr: float,
    schedule: Any,
    steps: int,
    tol: float,
    box: NDArray[np.float64] | None,
    lr_mode: str,
    max_norm: float,
    record: NDArray[np.intp],
) -> MultiStartResult:
    """The batched loop; ``record`` lists the start indices whose trajectories are kept."""
    opt = get_optimizer(optimizer)
    sched = make_schedule(schedule, steps)
    n, d = X0.shape
    dtype = X0.dtype
    x_end = X0.copy()
    f_end = np.full(n, np.nan, dtype=dtype)
    g_end = np.full(n, np.nan, dtype=dtype)
    status = np.full(n, _STEP_LIMIT, dtype=np.int8)
    n_steps = np.zeros(n, dtype=np.int64)
    n_rec = record.size
    if n_rec:
        P = np.full((steps + 1, n_rec, d), np.nan, dtype=dtype)
        V = np.full((steps + 1, n_rec), np.nan, dtype=dtype)
        G = np.full((steps + 1, n_rec), np.nan, dtype=dtype)
        L = np.full((steps, n_rec), np.nan, dtype=dtype)
        # slot of each start in the recording buffers (-1: not recorded)
        slot = np.full(n, -1, dtype=np.intp)
        slot[record] = np.arange(n_rec)
    idx = np.arange(n)  # the starts still moving, in order
    X = X0.copy()
    state = opt.init(X)
    if box is not None:
        # a hair of slack so that starts on the boundary of a grid count as inside
        slack = 1e-12 * (box[:, 1] - box[:, 0])
        lo, hi = box[:, 0] - slack, box[:, 1] + slack
    for k in range(steps + 1):
        f, g = obj.value_and_grad(X)
        f = np.asarray(f, dtype=dtype).reshape(len(idx))
        g = np.asarray(g, dtype=dtype).reshape(len(idx), d)
        with np.errstate(all="ignore"):
            gn = np.sqrt(np.sum(g * g, axis=-1))
            ok = np.isfinite(f) & np.isfinite(gn) & np.all(np.isfinite(X), axis=-1)
            ok &= np.sqrt(np.sum(X * X, axis=-1)) <= max_norm
        if n_rec:
            s = slot[idx]
            r = s >= 0
            P[k, s[r]] = X[r]
            V[k, s[r]] = f[r]
            G[k, s[r]] = gn[r]
        code = np.full(len(idx), -1, dtype=np.int8)
        code[~ok] = _DIVERGED
        if box is not None:
            out = ~np.all((X >= lo) & (X <= hi), axis=-1)
            code[ok & out] = _LEFT
        code[(code < 0) & (gn <= tol)] = _CONVERGED
        if k == steps:
            code[code < 0] = _STEP_LIMIT
        done = code >= 0
        if done.any():
            ids = idx[done]
            x_end[ids] = X[done]
            f_end[ids] = f[done]
            g_end[ids] = gn[done]
            status[ids] = code[done]
            n_steps[ids] = k
            keep = ~done
            if not keep.any():
                break
            idx, X, g, gn = idx[keep], X[keep], g[keep], gn[keep]
            # per-start buffers shrink with the batch; shared ones (the step count) stay
            state = {key: (v[keep] if np.shape(v) == (keep.size, d) else v)
                     for key, v in state.items()}
        lr_k = sched(k, lr)
        lr_used: Any = lr_k
        if lr_mode == "grad_scaled":
            lr_used = (lr_k * gn)[:, None]
        if n_rec:
            s = slot[idx]
            r = s >= 0
            L[k, s[r]] = lr_used[r, 0] if lr_mode == "grad_scaled" else lr_k
        updates, state = opt.update(g, state, X, lr_used)
        X = X + updates
    opt_name = _describe(optimizer, opt)
    sched_name = _schedule_name(schedule)
    names = np.asarray(STATUSES)[status]
    recorded: dict[int, DescentResult] = {}
    for j, i in enumerate(record):
        m = int(n_steps[i])
        recorded[int(i)] = DescentResult(
            x_end[i].copy(), float(f_end[i]), float(g_end[i]), str(names[i]), m,
            P[: m + 1, j].copy(), V[: m + 1, j].copy(), G[: m + 1, j].copy(), L[:m, j].copy(),
            opt_name, float(lr), sched_name, lr_mode)
    return MultiStartResult(X0.copy(), x_end, f_end, g_end, names, n_steps, recorded,
                            opt_name, float(lr), sched_name, lr_mode)


def _common_args(owner: str, lr: Any, steps: Any, tol: Any, lr_mode: Any,
                 max_norm: Any) -> tuple[float, int, float, str, float]:
    lr = check_scalar(lr, "lr", low=0.0, closed="neither", owner=owner)
    if not math.isfinite(lr):
        raise ValueError(f"The 'lr' parameter of {owner} must be a finite float > 0. Got "
                         f"{lr!r} instead.")
    steps = check_scalar(steps, "steps", kind=int, low=0, owner=owner)
    tol = check_scalar(tol, "tol", low=0.0, owner=owner)
    lr_mode = check_choice(lr_mode, "lr_mode", LR_MODES, owner=owner)
    max_norm = check_scalar(max_norm, "max_norm", low=0.0, closed="neither", owner=owner)
    return lr, steps, tol, lr_mode, max_norm


def _as_starts(x: ArrayLike, d: int | None, name: str, owner: str) -> NDArray[np.floating]:
    try:
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiub":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"The {name!r} parameter of {owner} must be numbers, got {x!r}. Pass "
                         "e.g. [1.0, -0.5].") from None
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


def _check_inside(X: NDArray[Any], box: NDArray[np.float64] | None, name: str,
                  owner: str) -> None:
    if box is None:
        return
    slack = 1e-12 * (box[:, 1] - box[:, 0])
    out = ~np.all((X >= box[:, 0] - slack) & (X <= box[:, 1] + slack), axis=-1)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise ValueError(
            f"The {name!r} of {owner} must lie inside the domain "
            f"{[tuple(float(v) for v in b) for b in box]}; start {i} = "
            f"{[float(v) for v in X[i]]} is outside ({int(out.sum())} start(s) in all). Move "
            "the start inside, widen 'domain', or pass domain='unbounded'."
        )


def minimize(
    f: FunctionLike,
    x0: ArrayLike,
    *,
    optimizer: Any = "gd",
    lr: float = 0.01,
    schedule: Any = None,
    steps: int = 1000,
    tol: float = 1e-8,
    domain: Any = None,
    lr_mode: str = "fixed",
    max_norm: float = 1e12,
    variables: Sequence[str] | None = None,
    record: bool = True,
) -> DescentResult:
    """Descend from ``x0`` until the gradient is below ``tol`` or another stop reason.

    Parameters
    ----------
    f : str, Surface, SymbolicFunction or callable
        A surface name (``"peaks"``), an expression (``"x^2 + 3*y^2"``), or a callable
        ``P (..., d) -> (value (...), grad (..., d))``.
    x0 : array of shape (d,), or a float for a 1-D function
    optimizer : str or optimizer object, default "gd"
        A name from :data:`gdlab.core.optim.OPTIMIZERS` or an object such as ``Adam(beta1=0.8)``.
    lr : float > 0, default 0.01
        Base learning rate.
    schedule : None, str or callable (step, lr) -> lr
        See :func:`gdlab.core.schedules.get_schedule`.
    steps : int >= 0, default 1000
        Most updates made.
    tol : float >= 0, default 1e-8
        Converged when ``|grad f(x)| <= tol``.
    domain : sequence of d pairs (lo, hi), 'unbounded' or None
        Stop with 'left_domain' when a point leaves this box. None: the surface's domain for a
        named surface, else unbounded.
    lr_mode : {"fixed", "grad_scaled"}
        "grad_scaled" multiplies each step's rate by ``|grad f(x_k)|`` (see module notes).
    max_norm : float, default 1e12
        A point with ``|x| > max_norm`` counts as diverged.
    variables : sequence of str, optional
        Order of the variables of an expression.
    record : bool, default True
        Keep the trajectory.

    Returns
    -------
    DescentResult
    """
    owner = "minimize"
    lr, steps, tol, lr_mode, max_norm = _common_args(owner, lr, steps, tol, lr_mode, max_norm)
    obj = as_objective(f, variables)
    x = _as_starts(x0, obj.n_vars, "x0", owner)
    d = obj.n_vars if obj.n_vars is not None else max(1, x.size)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.shape != (d,):
        raise ValueError(
            f"The 'x0' parameter of minimize must have {d} coordinate(s) for a function of "
            f"{d} variable(s) {obj.variables or ''}, got shape {x.shape}. Pass one number "
            "per variable, e.g. x0=" + str([0.0] * d) + "."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"The 'x0' parameter of minimize must be finite, got {x.tolist()}.")
    box = _resolve_domain(obj, domain, d, owner)
    X0 = x[None, :]
    _check_inside(X0, box, "x0", owner)
    rec = np.arange(1) if record else np.arange(0)
    res = _descend(obj, X0, optimizer=optimizer, lr=lr, schedule=schedule, steps=steps, tol=tol,
                   box=box, lr_mode=lr_mode, max_norm=max_norm, record=rec)
    return res.result(0)


def minimize_many(
    f: FunctionLike,
    starts: ArrayLike,
    *,
    optimizer: Any = "gd",
    lr: float = 0.01,
    schedule: Any = None,
    steps: int = 1000,
    tol: float = 1e-8,
    domain: Any = None,
    lr_mode: str = "fixed",
    max_norm: float = 1e12,
    variables: Sequence[str] | None = None,
    record: bool | Sequence[int] | int = False,
) -> MultiStartResult:
    """Descend from every row of ``starts`` at once (one array computation per step).

    Parameters are those of :func:`minimize`, except

    starts : array of shape (n, d) (or (n,) for a 1-D function)
    record : bool, int or sequence of int, default False
        Which starts keep their trajectory: True for all (memory: (steps+1) x n x d floats),
        an int k for the first k, or a list of indices.

    Returns
    -------
    MultiStartResult
        Each start's end point, value, status and step count equal those of :func:`minimize`
        run from that start alone.
    """
    owner = "minimize_many"
    lr, steps, tol, lr_mode, max_norm = _common_args(owner, lr, steps, tol, lr_mode, max_norm)
    obj = as_objective(f, variables)
    X = _as_starts(starts, obj.n_vars, "starts", owner)
    d = obj.n_vars
    if X.ndim == 1 and d in (1, None):
        X = X[:, None]
    if X.ndim != 2 or (d is not None and X.shape[1] != d) or X.shape[0] == 0:
        want = d if d is not None else "d"
        raise ValueError(
            f"The 'starts' parameter of minimize_many must have shape (n_starts, {want}), got "
            f"shape {X.shape}. Stack one start per row, e.g. np.array([[0, 1], [2, -1]])."
        )
    if not np.all(np.isfinite(X)):
        raise ValueError("The 'starts' parameter of minimize_many must be finite; it holds NaN "
                         "or infinity.")
    d = X.shape[1]
    box = _resolve_domain(obj, domain, d, owner)
    _check_inside(X, box, "starts", owner)
    n = X.shape[0]
    if record is True:
        rec = np.arange(n)
    elif record is False or record is None:
        rec = np.arange(0)
    elif isinstance(record, (int, np.integer)):
        rec = np.arange(min(int(record), n))
    else:
        rec = np.unique(np.asarray(record, dtype=np.intp))
        if rec.size and (rec[0] < 0 or rec[-1] >= n):
            raise ValueError(f"The 'record' indices of minimize_many must be in [0, {n}), got "
                             f"{list(record)}.")
    return _descend(obj, X, optimizer=optimizer, lr=lr, schedule=schedule, steps=steps, tol=tol,
                    box=box, lr_mode=lr_mode, max_norm=max_norm, record=rec)


# -- critical points and basins ------------------------------------------------------------------


def _symbolic(obj: Objective, owner: str) -> SymbolicFunction:
    if obj.function is None:
        raise TypeError(
            f"{owner} needs symbolic derivatives (the Hessian): pass a surface name, an "
            f"expression string or a SymbolicFunction, not the callable {obj.name!r}."
        )
    return obj.function


def _domain_for(obj: Objective, domain: Any, d: int, owner: str) -> NDArray[np.float64]:
    if domain is None:
        if obj.domain is None:
            raise ValueError(
                f"{owner} needs a box to search: the 'domain' parameter is required for "
                f"{obj.name!r}, which is not a named surface. Pass e.g. domain="
                f"{[(-3.0, 3.0)] * d}."
            )
        return obj.domain
    return _check_box(domain, d, owner)


def critical_points(
    f: FunctionLike,
    *,
    domain: Any = None,
    grid: int = 41,
    variables: Sequence[str] | None = None,
) -> list[CriticalPoint]:
    """Critical points of ``f`` in the domain by Newton's method on the gradient from a grid.

    A thin front to :func:`gdlab.functions.critical.find_critical_points` that accepts what
    :func:`minimize` accepts. Each point carries its kind (from the Hessian's eigenvalues)
    and, for minima, ``max_stable_lr = 2 / lambda_max``.
    """
    obj = as_objective(f, variables, hessian=True)
    fn = _symbolic(obj, "critical_points")
    box = _domain_for(obj, domain, fn.n_vars, "critical_points")
    return find_critical_points(fn, box.tolist(), grid=grid)


def grid_starts(domain: ArrayLike, grid: int) -> NDArray[np.float64]:
    """A ``grid``-per-axis grid over the box, shape (grid**d, d), first axis slowest."""
    box = np.asarray(domain, dtype=np.float64)
    axes = [np.linspace(lo, hi, grid) for lo, hi in box]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1)


NOT_CONVERGED, ESCAPED, DIVERGED, OTHER_CRITICAL = -1, -2, -3, -4
_OUTCOME_NAMES = {NOT_CONVERGED: "not converged", ESCAPED: "escaped", DIVERGED: "diverged",
                  OTHER_CRITICAL: "saddle or maximum"}


@dataclass
class BasinResult:
    """Where each start of a grid (or sample) ends.

    Attributes
    ----------
    starts : ndarray of shape (n, d)
    grid_shape : tuple of int or None
        ``(grid,) * d`` when the starts are a grid (``starts.reshape(*grid_shape, d)``).
    labels : ndarray of shape (n,) of int
        ``i >= 0``: the start reached ``minima[i]``; -1 not converged (step limit, or stopped
        away from any critical point), -2 escaped (left the domain), -3 diverged, -4 stopped at
        a saddle or maximum.
    minima : list of CriticalPoint
        Sorted by value (index 0 is the lowest).
    critical_points : list of CriticalPoint
        All critical points found in the domain.
    shares : dict of str to float
        Fraction of starts per outcome, minima first (named "minimum 1 (x, y)").
    descent : MultiStartResult
    domain : ndarray of shape (d, 2)
    name : str
    steps : int
    function : SymbolicFunction
    variables : tuple of str
    """

    starts: NDArray[np.floating]
    grid_shape: tuple[int, ...] | None
    labels: NDArray[np.int64]
    minima: list[CriticalPoint]
    critical_points: list[CriticalPoint]
    shares: dict[str, float]
    descent: MultiStartResult
    domain: NDArray[np.float64]
    name: str = ""
    steps: int = 0
    function: SymbolicFunction | None = None
    variables: tuple[str, ...] = ()

    def outcome_name(self, label: int) -> str:
        """Text of a label: ``"minimum 1 (0.228, -1.626)"`` or ``"escaped"``."""
        if label >= 0:
            pt = ", ".join(f"{v:.3f}" for v in self.minima[label].point)
            return f"minimum {label + 1} ({pt})"
        return _OUTCOME_NAMES[label]

    def rows(self) -> list[dict[str, Any]]:
        """One row per outcome: name, share, count, value and 2/lambda_max for minima."""
        out = []
        n = len(self.labels)
        for lab in [*range(len(self.minima)), NOT_CONVERGED, ESCAPED, DIVERGED, OTHER_CRITICAL]:
            count = int(np.count_nonzero(self.labels == lab))
            if lab < 0 and count == 0:
                continue
            row: dict[str, Any] = {"outcome": self.outcome_name(lab), "share": count / n,
                                   "count": count}
            if lab >= 0:
                m = self.minima[lab]
                row.update(point=[float(v) for v in m.point], value=m.value,
                           max_stable_lr=m.max_stable_lr)
            out.append(row)
        return out


def basins(
    f: FunctionLike,
    *,
    grid: int = 121,
    starts: ArrayLike | None = None,
    domain: Any = None,
    optimizer: Any = "gd",
    lr: float = 0.05,
    steps: int = 5000,
    tol: float = 1e-6,
    schedule: Any = None,
    lr_mode: str = "fixed",
    critical_grid: int = 41,
    match_tol: float | None = None,
    variables: Sequence[str] | None = None,
) -> BasinResult:
    """Run a grid (or given sample) of starts and say which minimum each one reaches.

    Parameters
    ----------
    f : surface name, expression, SymbolicFunction or Surface
    grid : int, default 121
        Starts per axis of a grid over the domain (d <= 3). Ignored when ``starts`` is given.
    starts : array of shape (n, d), optional
        Explicit starts (e.g. ``rng.uniform(lo, hi, (n, d))`` for d > 3).
    domain : d pairs (lo, hi), optional
        Default: the surface's domain; required for an expression. Starts leaving it count
        as escaped.
    optimizer, lr, steps, tol, schedule, lr_mode
        As in :func:`minimize`; here ``tol`` defaults to 1e-6.
    critical_grid : int, default 41
        Grid of Newton starts for :func:`critical_points`.
    match_tol : float, optional
        A converged end point belongs to the nearest critical point within this distance;
        default 1e-3 times the widest side of the domain.

    Returns
    -------
    BasinResult
    """
    owner = "basins"
    obj = as_objective(f, variables, hessian=True)
    fn = _symbolic(obj, owner)
    d = fn.n_vars
    box = _domain_for(obj, domain, d, owner)
    if starts is None:
        grid = check_scalar(grid, "grid", kind=int, low=2, high=2001, owner=owner)
        if d > 3:
            raise ValueError(
                f"A grid of starts in {d} dimensions has grid**{d} points; pass 'starts' "
                "(e.g. rng.uniform(lo, hi, (10000, d))) instead."
            )
        S: NDArray[np.floating] = grid_starts(box, grid)
        grid_shape: tuple[int, ...] | None = (grid,) * d
    else:
        S = _as_starts(starts, d, "starts", owner)
        if S.ndim == 1 and d == 1:
            S = S[:, None]
        grid_shape = None
    width = float(np.max(box[:, 1] - box[:, 0]))
    match = check_scalar(match_tol, "match_tol", low=0.0, closed="neither", owner=owner,
                         allow_none=True)
    if match is None:
        match = 1e-3 * width
    res = minimize_many(obj, S, optimizer=optimizer, lr=lr, schedule=schedule, steps=steps,
                        tol=tol, domain=box, lr_mode=lr_mode)
    crit = find_critical_points(fn, box.tolist(), grid=critical_grid)
    minima = sorted([c for c in crit if c.kind == "minimum"], key=lambda c: c.value)
    others = [c for c in crit if c.kind != "minimum"]
    labels = np.full(len(S), NOT_CONVERGED, dtype=np.int64)
    labels[res.status == "left_domain"] = ESCAPED
    labels[res.status == "diverged"] = DIVERGED
    conv = np.flatnonzero(res.status == "converged")
    if conv.size and (minima or others):
        pts = np.array([c.point for c in minima + others])
        dist = np.linalg.norm(res.x[conv][:, None, :] - pts[None, :, :], axis=-1)
        nearest = np.argmin(dist, axis=1)
        near = dist[np.arange(conv.size), nearest] <= match
        is_min = nearest < len(minima)
        labels[conv[near & is_min]] = nearest[near & is_min]
        labels[conv[near & ~is_min]] = OTHER_CRITICAL
    out = BasinResult(S, grid_shape, labels, minima, crit, {}, res, box,
                      obj.surface.name if obj.surface is not None else obj.name, steps, fn,
                      obj.variables)
    out.shares = {r["outcome"]: r["share"] for r in out.rows()}
    return out
