"""Named test surfaces for gradient descent, with their known critical points.

Each surface is its formula in gdlab's own expression syntax (parsed by the safe parser in
`gdlab.functions.symbolic`), a plotting/search domain, and its minima, maxima and saddle points as
(point, value) pairs computed with SymPy derivatives and Newton's method from a dense grid
(`gdlab.functions.critical.find_critical_points`), to about 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gdlab.core._validation import check_scalar
from gdlab.functions.symbolic import SymbolicFunction, parse_expression

__all__ = ["SURFACES", "Surface", "get_surface"]

Point = tuple[float, ...]
Extremum = tuple[Point, float]


@dataclass(frozen=True)
class Surface:
    """A named function with its domain and known critical points.

    Attributes
    ----------
    name : str
    text : str
        The formula in gdlab's expression syntax, e.g. ``"(1-x)^2 + 100*(y-x^2)^2"``.
    variables : tuple of str
    domain : tuple of (lo, hi), one per variable
    minima, maxima, saddles : tuple of ((point...), value)
        Minima sorted by value; the first is the global minimum on the domain.
    global_minimum : ((point...), value)
    description : str
    """

    name: str
    text: str
    variables: tuple[str, ...]
    domain: tuple[tuple[float, float], ...]
    minima: tuple[Extremum, ...]
    maxima: tuple[Extremum, ...] = ()
    saddles: tuple[Extremum, ...] = ()
    description: str = ""

    @property
    def global_minimum(self) -> Extremum:
        """The lowest listed minimum."""
        return min(self.minima, key=lambda m: m[1])

    @property
    def n_vars(self) -> int:
        return len(self.variables)

    @cached_property
    def function(self) -> SymbolicFunction:
        """The surface as a SymbolicFunction (built once, then cached)."""
        expr, symbols = parse_expression(self.text, self.variables)
        return SymbolicFunction(expr, symbols)


PEAKS_TEXT = (
    "3*(1-x)^2*exp(-x^2-(y+1)^2) - 10*(x/5 - x^3 - y^5)*exp(-x^2-y^2) - 1/3*exp(-(x+1)^2-y^2)"
)


def _peaks() -> Surface:
    return Surface(
        name="peaks",
        text=PEAKS_TEXT,
        variables=("x", "y"),
        domain=((-3.0, 3.0), (-3.0, 3.0)),
        minima=(
            ((0.2282789206, -1.6255349575), -6.5511333328),
            ((-1.3473962444, 0.2045188661), -3.0498494028),
            ((0.2964455538, 0.3201962477), -0.0649358683),
        ),
        maxima=(
            ((-0.0093175820, 1.5813679629), 8.1062135894),
            ((-0.4600245180, -0.6291965087), 3.7765809985),
            ((1.2856846972, -0.0048475591), 3.5924899180),
        ),
        saddles=(
            ((0.4163233217, -0.3941450984), 0.4085479246),
            ((-0.2659375568, 0.4667399937), 0.7882934627),
            ((1.0982728343, 0.8544609795), 2.2491916615),
        ),
        description="MATLAB's peaks: three minima of different depth; the start decides "
        "which one gradient descent reaches (lesson L3). Flat plateau near the border.",
    )


def _rosenbrock() -> Surface:
    return Surface(
        name="rosenbrock",
        text="(1-x)^2 + 100*(y-x^2)^2",
        variables=("x", "y"),
        domain=((-2.0, 2.0), (-1.0, 3.0)),
        minima=(((1.0, 1.0), 0.0),),
        description="A long curved valley: easy to reach, slow to follow; Hessian condition "
        "number ~2500 at the minimum.",
    )


def _himmelblau() -> Surface:
    return Surface(
        name="himmelblau",
        text="(x^2+y-11)^2 + (x+y^2-7)^2",
        variables=("x", "y"),
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        minima=(
            ((3.0, 2.0), 0.0),
            ((-2.8051180870, 3.1313125183), 0.0),
            ((-3.7793102534, -3.2831859913), 0.0),
            ((3.5844283403, -1.8481265270), 0.0),
        ),
        maxima=(((-0.2708445907, -0.9230385565), 181.6165215226),),
        saddles=(
            ((3.3851541836, 0.0738518798), 13.3119262704),
            ((0.0866775046, 2.8842547012), 67.7191500875),
            ((-3.0730257508, -0.0813530443), 104.0151629176),
            ((-0.1279613467, -1.9537149802), 178.3372392019),
        ),
        description="Four global minima of value 0: different starts, equally good answers.",
    )


def _beale() -> Surface:
    return Surface(
        name="beale",
        text="(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
        variables=("x", "y"),
        domain=((-4.5, 4.5), (-4.5, 4.5)),
        minima=(((3.0, 0.5), 0.0),),
        saddles=(
            ((0.0, 1.0), 14.203125),
            ((0.1005379373, -2.6445135850), 9.8645122848),
        ),
        description="Sharp ridges and flat valleys; gradients span many orders of magnitude.",
    )


def _booth() -> Surface:
    return Surface(
        name="booth",
        text="(x + 2*y - 7)^2 + (2*x + y - 5)^2",
        variables=("x", "y"),
        domain=((-10.0, 10.0), (-10.0, 10.0)),
        minima=(((1.0, 3.0), 0.0),),
        description="A convex quadratic (Hessian eigenvalues 2 and 18).",
    )


# the 1-D Rastrigin term x^2 - 10 cos(2 pi x) + 10 has its local minimum near 1 here
RASTRIGIN_LOCAL = 0.9949586376523
RASTRIGIN_LOCAL_VALUE = 0.9949590570932898


def _rastrigin() -> Surface:
    a, v = RASTRIGIN_LOCAL, RASTRIGIN_LOCAL_VALUE
    return Surface(
        name="rastrigin",
        text="20 + x^2 + y^2 - 10*cos(2*pi*x) - 10*cos(2*pi*y)",
        variables=("x", "y"),
        domain=((-5.12, 5.12), (-5.12, 5.12)),
        minima=(
            ((0.0, 0.0), 0.0),
            ((a, 0.0), v),
            ((-a, 0.0), v),
            ((0.0, a), v),
            ((0.0, -a), v),
            ((a, a), 2 * v),
            ((a, -a), 2 * v),
            ((-a, a), 2 * v),
            ((-a, -a), 2 * v),
        ),
        description="Rastrigin (A=10): a local minimum near every integer point; only the "
        "nine nearest the origin are listed.",
    )


def _ackley() -> Surface:
    return Surface(
        name="ackley",
        text="-20*exp(-0.2*sqrt(0.5*(x^2+y^2))) - exp(0.5*(cos(2*pi*x)+cos(2*pi*y))) + e + 20",
        variables=("x", "y"),
        domain=((-32.768, 32.768), (-32.768, 32.768)),
        minima=(((0.0, 0.0), 0.0),),
        description="Ackley: a nearly flat, bumpy outer region and a sharp funnel. Not "
        "differentiable at the minimum (the gradient is NaN at (0, 0)).",
    )


def _neg(p: Point) -> Point:
    return tuple(-v for v in p)


def _six_hump_camel() -> Surface:
    # symmetric under p -> -p: list one of each pair and its mirror image
    m1 = (0.0898420131, -0.7126564030)
    m2 = (1.7036067150, -0.7960835687)
    m3 = (1.6071047529, 0.5686514549)
    mx = (1.2302298765, 0.1623345845)
    s = [
        (1.1092053368, -0.7682680925),
        (1.6380679842, 0.2286740690),
        (1.2960702672, 0.6050843880),
    ]
    return Surface(
        name="six_hump_camel",
        text="(4 - 2.1*x^2 + x^4/3)*x^2 + x*y + (-4 + 4*y^2)*y^2",
        variables=("x", "y"),
        domain=((-3.0, 3.0), (-2.0, 2.0)),
        minima=(
            (m1, -1.0316284535),
            (_neg(m1), -1.0316284535),
            (m2, -0.2154638244),
            (_neg(m2), -0.2154638244),
            (m3, 2.1042503103),
            (_neg(m3), 2.1042503103),
        ),
        maxima=((mx, 2.4962953510), (_neg(mx), 2.4962953510)),
        saddles=(
            ((0.0, 0.0), 0.0),
            (s[0], 0.5437186010),
            (_neg(s[0]), 0.5437186010),
            (s[1], 2.2293571975),
            (_neg(s[1]), 2.2293571975),
            (s[2], 2.2294708180),
            (_neg(s[2]), 2.2294708180),
        ),
        description="Six local minima, two of them global; symmetric under (x, y) -> (-x, -y).",
    )


def _goldstein_price() -> Surface:
    return Surface(
        name="goldstein_price",
        text="(1 + (x+y+1)^2*(19 - 14*x + 3*x^2 - 14*y + 6*x*y + 3*y^2))"
        "*(30 + (2*x-3*y)^2*(18 - 32*x + 12*x^2 + 48*y - 36*x*y + 27*y^2))",
        variables=("x", "y"),
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        minima=(
            ((0.0, -1.0), 3.0),
            ((-0.6, -0.4), 30.0),
            ((1.8, 0.2), 84.0),
            ((1.2, 0.8), 840.0),
        ),
        maxima=(((0.8, 0.2), 1155.0),),
        saddles=(
            ((-0.4, -0.6), 35.0),
            ((1.2, -0.2), 99.0),
            ((1.4, 0.6), 980.0),
            ((0.6, 0.4), 990.0),
        ),
        description="Values from 3 to over 1e6 on the domain: a test of step-size robustness.",
    )


def _quadratic_bowl(condition_number: float = 10.0, angle: float = 0.0) -> Surface:
    kappa = check_scalar(
        condition_number, "condition_number", low=1.0, high=1e12, owner="quadratic_bowl"
    )
    angle = check_scalar(angle, "angle", low=-1e6, high=1e6, owner="quadratic_bowl")
    # A = R diag(1, kappa) R^T, R the rotation by `angle` radians
    c, s = math.cos(angle), math.sin(angle)
    a11 = c * c + kappa * s * s
    a22 = s * s + kappa * c * c
    a12 = (1.0 - kappa) * c * s
    text = f"0.5*({a11!r}*x^2 + 2*{a12!r}*x*y + {a22!r}*y^2)"
    return Surface(
        name="quadratic_bowl",
        text=text,
        variables=("x", "y"),
        domain=((-3.0, 3.0), (-3.0, 3.0)),
        minima=(((0.0, 0.0), 0.0),),
        description=f"0.5 p^T A p with eigenvalues 1 and {kappa:g} (axes rotated by "
        f"{angle:g} rad): plain GD is stable for lr < 2/{kappa:g} and crawls along the flat "
        "axis.",
    )


def _quartic_1d() -> Surface:
    return Surface(
        name="quartic_1d",
        text="x^4 - 3*x^2 + x",
        variables=("x",),
        domain=((-2.5, 2.5),),
        minima=(((-1.3008395659,), -3.5139050389), ((1.1309011226,), -1.0702301818)),
        maxima=(((0.1699384433,), 0.0841352207),),
        description="Two minima of different depth: from the right, GD stops in the "
        "shallow one.",
    )


def _parabola_1d() -> Surface:
    return Surface(
        name="parabola_1d",
        text="3*x^2 - 3*x + 4",
        variables=("x",),
        domain=((-2.0, 2.0),),
        minima=(((0.5,), 3.25),),
        description="The course's 1-D example: f'(x) = 6x - 3, minimum at x = 0.5.",
    )


def _local_minima_1d() -> Surface:
    m1, v1 = 0.4758024510, -0.7620765453
    m2, v2 = 1.4250674148, 1.1396183913
    return Surface(
        name="local_minima_1d",
        text="cos(2*pi*x) + x^2",
        variables=("x",),
        domain=((-2.0, 2.0),),
        minima=(((-m1,), v1), ((m1,), v1), ((-m2,), v2), ((m2,), v2)),
        maxima=(((0.0,), 1.0), ((-1.0544781054,), 2.0539105591), ((1.0544781054,), 2.0539105591)),
        description="The course's local-minima example: a start at x = 0 is a maximum where "
        "the gradient is exactly zero; starts beyond |x| ~ 1.05 end in the outer minima.",
    )


_BUILDERS: dict[str, Callable[..., Surface]] = {
    "peaks": _peaks,
    "rosenbrock": _rosenbrock,
    "himmelblau": _himmelblau,
    "beale": _beale,
    "booth": _booth,
    "rastrigin": _rastrigin,
    "ackley": _ackley,
    "six_hump_camel": _six_hump_camel,
    "goldstein_price": _goldstein_price,
    "quadratic_bowl": _quadratic_bowl,
    "quartic_1d": _quartic_1d,
    "parabola_1d": _parabola_1d,
    "local_minima_1d": _local_minima_1d,
}

SURFACES: tuple[str, ...] = tuple(_BUILDERS)
_CACHE: dict[str, Surface] = {}


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def get_surface(name: str, **params: Any) -> Surface:
    """The named surface; names are case-insensitive and accept '-' for '_'.

    Only ``quadratic_bowl`` takes parameters: ``condition_number`` (default 10.0) and
    ``angle`` in radians (default 0.0).
    """
    if not isinstance(name, str) or _normalize(name) not in _BUILDERS:
        raise ValueError(
            f"Unknown surface {name!r}. Choose one of {', '.join(SURFACES)}, or type a formula "
            "with gdlab.functions.symbolic.compile_function."
        )
    key = _normalize(name)
    if params and key != "quadratic_bowl":
        raise TypeError(
            f"The surface {key!r} takes no parameters, got {sorted(params)}. Only "
            "'quadratic_bowl' accepts condition_number and angle."
        )
    unknown = set(params) - {"condition_number", "angle"}
    if unknown:
        raise TypeError(
            f"quadratic_bowl got unknown parameter(s) {sorted(unknown)}. It accepts "
            "condition_number and angle."
        )
    if params:  # parametrized surfaces are built each time (their values need not hash)
        return _BUILDERS[key](**params)
    # cached so that each surface's SymbolicFunction is derived and lambdified once
    if key not in _CACHE:
        _CACHE[key] = _BUILDERS[key]()
    return _CACHE[key]
