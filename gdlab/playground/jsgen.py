"""f and its exact gradient as JavaScript, printed by SymPy's own JavaScript printer.

The code mirrors how :class:`gdlab.functions.symbolic.SymbolicFunction` evaluates: value and
gradient come from one ``sympy.cse`` of ``[f, df/dx1, ..., df/dxd]`` (what ``lambdify(...,
cse=True)`` uses), so the page computes the same subexpressions in the same order as NumPy.
"""

from __future__ import annotations

import sympy
from sympy.printing.jscode import JavascriptCodePrinter

from gdlab.functions.symbolic import SymbolicFunction

__all__ = ["JSFunction", "function_to_js"]


class _Printer(JavascriptCodePrinter):
    """SymPy's JavaScript printer, with powers evaluated as NumPy evaluates them."""

    def _print_Pow(self, expr: sympy.Pow) -> str:
        # SymPy prints x**(1/3) as Math.cbrt(x), real for x < 0; NumPy's x**(1/3) is NaN there
        if expr.exp == sympy.Rational(1, 3):
            return f"Math.pow({self._print(expr.base)}, 1/3)"
        return str(super()._print_Pow(expr))

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        # a prefix keeps user names (``in``, ``new``, ``Math``) clear of JavaScript's; renaming
        # at print time keeps SymPy's term order, which depends on the names, as NumPy's
        return "v_" + expr.name


class JSFunction:
    """JavaScript source of ``fg(p) -> [f, [df/dx1, ...]]`` and ``f(p)`` for a point array p.

    Attributes
    ----------
    fg : str
        ``function (p) { ...; return [f, [g1, ..., gd]]; }``
    value : str
        ``function (p) { ...; return f; }``
    """

    def __init__(self, fg: str, value: str) -> None:
        self.fg = fg
        self.value = value


def _body(exprs: list[sympy.Expr], fn: SymbolicFunction) -> tuple[list[str], list[str]]:
    printer = _Printer({"strict": True})
    # sympy.cse with its defaults: the subexpressions lambdify(..., cse=True) evaluates
    replacements, reduced = sympy.cse(exprs)
    lines = [f"var v_{s.name} = p[{i}];" for i, s in enumerate(fn.variables)]
    for sym, sub in replacements:
        lines.append(f"var {printer.doprint(sym)} = {printer.doprint(sub)};")
    results = [printer.doprint(e) for e in reduced]
    return lines, results


def function_to_js(fn: SymbolicFunction) -> JSFunction:
    """Print ``fn`` and its gradient as JavaScript.

    Raises
    ------
    ValueError
        When SymPy's printer cannot express a part of f or its gradient in JavaScript.
    """
    try:
        lines, results = _body([fn.expr, *fn.gradient_exprs], fn)
        vlines, vresults = _body([fn.expr], fn)
    except (ValueError, TypeError, NotImplementedError) as exc:  # strict: what JS lacks
        raise ValueError(
            f"The function {fn.text!r} cannot be written as JavaScript for the playground "
            f"({' '.join(str(exc).split())[:160]}). Use sin, cos, exp, log, sqrt, abs and the "
            "other functions of the expression syntax only."
        ) from None
    indent = "\n  "
    fg = ("function (p) {" + indent + indent.join(lines) + indent
          + f"return [{results[0]}, [{', '.join(results[1:])}]];\n}}")
    value = ("function (p) {" + indent + indent.join(vlines) + indent
             + f"return {vresults[0]};\n}}")
    return JSFunction(fg, value)
