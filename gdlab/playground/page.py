"""The playground page: one self-contained HTML file for a function of one or two variables.

Python computes what needs SymPy or Newton's method (f and its gradient as JavaScript, the
value grid behind the heatmap, contour levels, critical points, the Hessian's eigenvalues of a
quadratic); the page runs the optimizers itself (``static/optim.js``), so it works from
``file://`` with no server and no network.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import sympy
from numpy.typing import NDArray

from gdlab.functions.critical import CriticalPoint, find_critical_points
from gdlab.functions.descent import Objective, as_objective
from gdlab.io.atomic import atomic_write_bytes
from gdlab.playground.jsgen import function_to_js

__all__ = ["Playground", "build_playground", "render_page", "write_playground"]

# heatmap resolution (values per axis) and points of a 1-D curve
GRID_2D = 121
GRID_1D = 401
# (start, lr) a named surface opens with; other functions start at 80 % of each axis
STARTS: dict[str, tuple[tuple[float, ...], float]] = {
    "peaks": ((0.5, 1.0), 0.02),
    "rosenbrock": ((-1.5, 2.0), 0.001),
    "himmelblau": ((0.0, 0.0), 0.01),
    "beale": ((1.0, 1.5), 0.001),
    "booth": ((-8.0, 8.0), 0.05),
    "rastrigin": ((2.2, 2.8), 0.002),
    "ackley": ((20.0, 25.0), 0.2),
    "six_hump_camel": ((-1.5, 1.5), 0.02),
    "goldstein_price": ((-1.5, 1.5), 1e-5),
    "quadratic_bowl": ((-2.5, 2.0), 0.1),
    "quartic_1d": ((2.0,), 0.02),
    "parabola_1d": ((-1.8,), 0.05),
    "local_minima_1d": ((1.7,), 0.02),
}
DEFAULT_BOX = (-3.0, 3.0)


@dataclass
class Playground:
    """What a page is made of.

    Attributes
    ----------
    name : str
        Surface name or the typed text.
    spec : dict
        JSON-able data for the page (function text, grid, levels, critical points ...).
    fg_js, value_js : str
        JavaScript of ``fg(p) -> [f, grad]`` and ``f(p)``.
    """

    name: str
    spec: dict[str, Any]
    fg_js: str
    value_js: str


def _box(obj: Objective, domain: Any, d: int) -> tuple[NDArray[np.float64], bool]:
    """The drawn box and whether a descent stops when it leaves it (as minimize's domain)."""
    if domain is not None:
        box = np.asarray(domain, dtype=np.float64)
        if box.shape == (2,) and d == 1:
            box = box[None, :]
        if box.shape == (2 * d,):
            box = box.reshape(d, 2)
        if box.shape != (d, 2) or not np.all(np.isfinite(box)) or np.any(box[:, 0] >= box[:, 1]):
            raise ValueError(
                f"The 'domain' of the playground must be {d} pair(s) (lo, hi) with lo < hi, one "
                f"per variable. Got {domain!r} instead. Pass e.g. {[DEFAULT_BOX] * d}."
            )
        return box, True
    if obj.domain is not None:
        return np.asarray(obj.domain, dtype=np.float64), True
    return np.array([DEFAULT_BOX] * d, dtype=np.float64), False


def _num(v: Any, digits: int = 7) -> float | None:
    v = float(v)
    if not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


def _critical(fn: Any, box: NDArray[np.float64]) -> list[CriticalPoint]:
    # grid=41: the critical_grid gdlab.functions.descent.basins uses, so minima are numbered
    # the same way in the page and in basins()
    return find_critical_points(fn, box.tolist(), grid=41)


def _quadratic(fn: Any) -> dict[str, Any] | None:
    """Eigenvalues of the constant Hessian of a convex quadratic, else None."""
    expr, symbols = fn.expr, fn.variables
    if not expr.is_polynomial(*symbols):
        return None
    if sympy.Poly(expr, *symbols).total_degree() != 2:
        return None
    H = fn.hessian(np.zeros(fn.n_vars))
    eig = np.linalg.eigvalsh(H)
    if not np.all(eig > 0):
        return None
    return {"eigenvalues": [float(v) for v in eig]}


def _default_start(name: str, box: NDArray[np.float64]) -> tuple[list[float], float | None]:
    if name in STARTS:
        start, lr = STARTS[name]
        inside = all(lo <= v <= hi for v, (lo, hi) in zip(start, box, strict=True))
        if inside:
            return list(start), lr
    return [float(lo + 0.8 * (hi - lo)) for lo, hi in box], None


def _default_lr(minima: list[CriticalPoint]) -> float:
    """A quarter of the smallest 2/lambda_max over the minima, one significant digit."""
    stable = [m.max_stable_lr for m in minima if m.max_stable_lr]
    if not stable:
        return 0.01
    lr = min(0.5, max(1e-4, 0.25 * min(stable)))
    return float(f"{lr:.1g}")


def _color_levels(values: NDArray[np.float64]) -> tuple[list[float], list[float]]:
    """256 quantiles of the finite values (the colour scale) and 14 contour levels."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [0.0, 1.0], []
    q = np.quantile(finite, np.linspace(0.0, 1.0, 256))
    levels = np.unique(np.quantile(finite, np.linspace(0.04, 0.96, 14)))
    return [float(v) for v in q], [float(v) for v in levels]


def build_playground(function: Any, *, variables: Any = None, domain: Any = None) -> Playground:
    """Everything a playground page needs for ``function``.

    Parameters
    ----------
    function : str
        A surface name (``"peaks"``) or an expression (``"x^2 + 3*y^2"``) of 1 or 2 variables.
    variables : sequence of str, optional
        Order of an expression's variables.
    domain : d pairs (lo, hi), optional
        The box drawn; a descent in the page stops when it leaves it (as
        :func:`gdlab.functions.descent.minimize` with ``domain``). Default: the surface's box;
        for an expression ``(-3, 3)`` per variable drawn, and the descent unbounded.

    Returns
    -------
    Playground
    """
    obj = as_objective(function, variables)
    fn = obj.function
    if fn is None:  # pragma: no cover - as_objective of a str always has a SymbolicFunction
        raise TypeError("The playground needs a surface name or an expression.")
    d = fn.n_vars
    if d not in (1, 2):
        raise ValueError(
            f"The playground draws functions of 1 or 2 variables; {obj.name!r} has {d} "
            f"({', '.join(obj.variables)}). Fix the other variables to numbers first."
        )
    box, bounded = _box(obj, domain, d)
    js = function_to_js(fn)
    name = obj.surface.name if obj.surface is not None else obj.name
    crit = _critical(fn, box)
    minima = sorted([c for c in crit if c.kind == "minimum"], key=lambda c: c.value)
    others = [c for c in crit if c.kind != "minimum"]
    start, lr = _default_start(name if obj.surface is not None else "", box)
    if lr is None:
        lr = _default_lr(minima)
    spec: dict[str, Any] = {
        "name": name,
        "text": obj.surface.text if obj.surface is not None else fn.text,
        "variables": [s.name for s in fn.variables],
        "gradient": [str(g) for g in fn.gradient_exprs],
        "description": obj.surface.description if obj.surface is not None else "",
        "d": d,
        "view": box.tolist(),
        "descend_domain": box.tolist() if bounded else None,
        # basins() lists minima by value, then the other critical points
        "critical": [
            {"point": [float(v) for v in c.point], "value": float(c.value), "kind": c.kind,
             "max_stable_lr": c.max_stable_lr}
            for c in minima + others
        ],
        "n_minima": len(minima),
        "quadratic": _quadratic(fn),
        "defaults": {"start": start, "lr": lr, "steps": 200},
    }
    if d == 2:
        xs = np.linspace(box[0, 0], box[0, 1], GRID_2D)
        ys = np.linspace(box[1, 0], box[1, 1], GRID_2D)
        X, Y = np.meshgrid(xs, ys)  # rows: y, columns: x
        V = fn.value(np.stack([X, Y], axis=-1))
        colors, levels = _color_levels(V)
        spec["grid"] = {"n": GRID_2D, "values": [_num(v, 6) for v in V.ravel()]}
    else:
        xs = np.linspace(box[0, 0], box[0, 1], GRID_1D)
        V = fn.value(xs[:, None])
        colors, levels = _color_levels(V)
        spec["curve"] = {"x": [_num(v) for v in xs], "y": [_num(v) for v in V]}
    spec["colors"] = colors
    spec["levels"] = levels
    return Playground(name, spec, js.fg, js.value)


def _static(name: str) -> str:
    return (resources.files("gdlab.playground") / "static" / name).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    # inside <script>, "</" would end the element; JSON allows "<\/"
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def render_page(pg: Playground) -> str:
    """The HTML text: styles, data, f and gradient, optim.js and the page script inlined."""
    title = f"gdlab playground: {pg.name}"
    page = _static("page.html")
    parts = {
        "{{TITLE}}": html.escape(title),
        "{{STYLE}}": _static("playground.css"),
        "{{SPEC}}": _script_json(pg.spec),
        "{{FG}}": pg.fg_js,
        "{{VALUE}}": pg.value_js,
        "{{OPTIM}}": _static("optim.js"),
        "{{SCRIPT}}": _static("playground.js"),
        "{{NAME}}": html.escape(pg.name),
        "{{FORMULA}}": html.escape(str(pg.spec["text"])),
    }
    # one pass, so that inserted text is never searched for further placeholders
    return re.sub(r"\{\{[A-Z]+\}\}", lambda m: parts[m.group(0)], page)


def write_playground(function: Any, out: str | Path, *, variables: Any = None,
                     domain: Any = None) -> Path:
    """Build the page for ``function`` and write it to ``out`` atomically; return the path."""
    pg = build_playground(function, variables=variables, domain=domain)
    path = Path(out)
    atomic_write_bytes(path, render_page(pg).encode("utf-8"))
    return path
