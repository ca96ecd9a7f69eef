"""Typed expressions -> SymPy -> fast NumPy value, gradient and Hessian.

The contract: `parse_expression` turns at most 500 ASCII characters into a SymPy expression
without ever calling `eval`, `sympify` or `parse_expr` on them (SymPy's parsers `eval` their
input, and SymPy evaluates integer powers eagerly, so `9**9**9` would exhaust memory). The text
is parsed by Python's `ast` module, every node is checked against a whitelist, constant
subtrees are folded in float arithmetic to catch overflow, and the SymPy object is built
directly from the checked tree. `SymbolicFunction` differentiates the expression (no
simplification) and lambdifies value and gradient into NumPy functions that evaluate any
number of points at once; the Hessian only when it is asked for.

For typed text, parsing, differentiation and lambdify's code generation run in a forked
worker against one deadline (`DEFAULT_TIMEOUT`, memory capped at `MAX_WORKER_MEMORY`); the
caller only compiles the generated source. At most `MAX_VARIABLES` variables.

Syntax: numbers, the variables, `pi`, `e`, `+ - * / ** ^` (`^` means power), unary `+ -`,
parentheses and the one-argument functions in `FUNCTIONS`; comments (`#`), line breaks, `;`
and `\\` are refused.
"""

from __future__ import annotations

import ast
import inspect
import math
import multiprocessing
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FUNCTIONS",
    "CONSTANTS",
    "ExpressionError",
    "SymbolicFunction",
    "compile_function",
    "parse_expression",
]

MAX_LENGTH = 500
MAX_NODES = 300
MAX_DEPTH = 40
MAX_LITERAL = 1e12
MAX_EXPONENT = 1000.0
# Exact rational constants above this many bits are refused: a power of a rational with a
# huge numerator and denominator (e.g. (1 + 2**-1000)**1000) is exact in SymPy and would
# otherwise take unbounded memory even though its float value is harmless.
MAX_CONSTANT_BITS = 4096
MAX_VARIABLES = 32
# One budget covers parsing, differentiation and code generation of typed text: the whole
# build, fork included, ends within DEFAULT_TIMEOUT seconds.
DEFAULT_TIMEOUT = 1.5
MAX_WORKER_MEMORY = 256 * 2**20
MAX_SOURCE_CHARS = 500_000

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


class ExpressionError(ValueError):
    """A typed expression was rejected: the message says what, where, and the fix."""


def _real_log(v: float) -> float:
    return math.log(v)


# name -> (SymPy function, float function used when folding constants)
FUNCTIONS: dict[str, tuple[Callable[[Any], Any], Callable[[float], float]]] = {
    "sin": (sympy.sin, math.sin),
    "cos": (sympy.cos, math.cos),
    "tan": (sympy.tan, math.tan),
    "asin": (sympy.asin, math.asin),
    "acos": (sympy.acos, math.acos),
    "atan": (sympy.atan, math.atan),
    "sinh": (sympy.sinh, math.sinh),
    "cosh": (sympy.cosh, math.cosh),
    "tanh": (sympy.tanh, math.tanh),
    "asinh": (sympy.asinh, math.asinh),
    "acosh": (sympy.acosh, math.acosh),
    "atanh": (sympy.atanh, math.atanh),
    "exp": (sympy.exp, math.exp),
    "log": (sympy.log, _real_log),
    "ln": (sympy.log, _real_log),
    "sqrt": (sympy.sqrt, math.sqrt),
    "abs": (sympy.Abs, abs),
}

CONSTANTS: dict[str, tuple[sympy.Expr, float]] = {"pi": (sympy.pi, math.pi), "e": (sympy.E, math.e)}

GRAMMAR = (
    "An expression uses numbers, the variables, pi, e, + - * / ^ (or **), unary + and -, "
    f"parentheses and the one-argument functions {', '.join(FUNCTIONS)}."
)

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Parser:
    """Check an `ast` tree node by node and build the SymPy expression from it."""

    def __init__(self, text: str, lead: int, declared: tuple[str, ...] | None) -> None:
        self.text = text
        self.declared = declared
        self.symbols: dict[str, sympy.Symbol] = {}
        # column in the parsed text -> column in the user's text: the parsed text has the
        # leading blanks stripped and every '^' written as '**' (one character longer)
        self.col_map: list[int] = []
        for i, ch in enumerate(text[lead:].rstrip(), start=lead):
            self.col_map.extend([i, i] if ch == "^" else [i])
        self.col_map.append(len(text))

    def column(self, offset: int) -> int:
        """1-based column in the user's text of 0-based `offset` in the parsed text."""
        return self.col_map[max(0, min(offset, len(self.col_map) - 1))] + 1

    def fail(self, what: str, node: ast.AST | None, fix: str) -> ExpressionError:
        where = ""
        col = getattr(node, "col_offset", None)
        if col is not None:
            where = f" at column {self.column(col)}"
        return ExpressionError(f"{what}{where} in expression {_shorten(self.text)!r}. {fix}")

    # Each visit returns (SymPy expression, float value if the subtree is constant else None).
    def visit(self, node: ast.AST) -> tuple[sympy.Expr, float | None]:
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(
            f"{_describe(node)} is not allowed",
            node,
            "Use only numbers, variables, pi, e, + - * / ^ (or **), parentheses and the "
            f"functions {', '.join(FUNCTIONS)}.",
        )

    def constant(self, node: ast.Constant) -> tuple[sympy.Expr, float | None]:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(
                f"The literal {_shorten(repr(v), 30)} ({type(v).__name__}) is not allowed",
                node,
                "Only real numbers such as 2, 0.5 or 1e-3 are accepted.",
            )
        if abs(v) > MAX_LITERAL or not math.isfinite(v):
            raise self.fail(
                f"The number {_shorten(repr(v), 30)} is too large (the limit is 1e12)",
                node,
                "Rescale the expression so its numbers stay within +-1e12.",
            )
        if isinstance(v, int):
            return sympy.Integer(v), float(v)
        return sympy.Float(repr(v)), float(v)

    def name(self, node: ast.Name) -> tuple[sympy.Expr, float | None]:
        ident = node.id
        if ident in CONSTANTS:
            expr, value = CONSTANTS[ident]
            return expr, value
        if ident in FUNCTIONS:
            raise self.fail(
                f"The function {ident!r} is used without an argument",
                node,
                f"Call it with one argument, e.g. {ident}(x).",
            )
        if not _NAME_RE.match(ident):
            raise self.fail(
                f"The name {_shorten(ident, 40)!r} is not allowed",
                node,
                "Variable names start with a letter and use only letters, digits and '_' "
                "(at most 32 characters).",
            )
        if self.declared is not None and ident not in self.declared:
            declared = ", ".join(self.declared) or "(none)"
            raise self.fail(
                f"Unknown name {ident!r}",
                node,
                f"Declared variables are {declared}. Use only those or pass variables=[...].",
            )
        if ident not in self.symbols:
            self.symbols[ident] = sympy.Symbol(ident, real=True)
        return self.symbols[ident], None

    def unary(self, node: ast.UnaryOp) -> tuple[sympy.Expr, float | None]:
        if not isinstance(node.op, ast.UAdd | ast.USub):
            raise self.fail(
                f"The unary operator {type(node.op).__name__} is not allowed",
                node,
                "Only unary + and - are accepted.",
            )
        expr, value = self.visit(node.operand)
        if isinstance(node.op, ast.UAdd):
            return expr, value
        return sympy.Mul(sympy.Integer(-1), expr), (None if value is None else -value)

    def binop(self, node: ast.BinOp) -> tuple[sympy.Expr, float | None]:
        # a + b - c + ... parses as a left-leaning chain; walk it in a loop so a long sum
        # or product costs no recursion depth (SymPy flattens it anyway)
        base, links = _left_chain(node)
        for _, link in links:
            if type(link.op) not in _BINOPS:
                raise self.fail(
                    f"The operator {type(link.op).__name__} is not allowed",
                    link,
                    "Use + - * / and ^ (or **) only.",
                )
        a, va = self.visit(base)
        for op_node, link in links:
            b, vb = self.visit(link.right)
            a, va = self.combine(_BINOPS[type(op_node)], a, va, b, vb, link)
        return a, va

    def combine(
        self,
        op: str,
        a: sympy.Expr,
        va: float | None,
        b: sympy.Expr,
        vb: float | None,
        node: ast.AST,
    ) -> tuple[sympy.Expr, float | None]:
        value = None
        if va is not None and vb is not None:
            value = self.fold(op, va, vb, node)
        if op == "**" and vb is not None and abs(vb) > MAX_EXPONENT:
            raise self.fail(
                f"The exponent {vb:.6g} is too large (the limit is {MAX_EXPONENT:g})",
                node,
                "Use an exponent between -1000 and 1000.",
            )
        if op == "**" and va is not None and vb is not None:
            self.check_power_size(a, vb, node)
        if op == "+":
            result = sympy.Add(a, b)
        elif op == "-":
            result = sympy.Add(a, sympy.Mul(sympy.Integer(-1), b))
        elif op == "*":
            result = sympy.Mul(a, b)
        elif op == "/":
            result = sympy.Mul(a, sympy.Pow(b, sympy.Integer(-1)))
        else:
            result = sympy.Pow(a, b)
        if value is not None:
            self.check_constant_size(result, node)
        return result, value

    def fold(self, op: str, a: float, b: float, node: ast.AST) -> float:
        try:
            if op == "+":
                r = a + b
            elif op == "-":
                r = a - b
            elif op == "*":
                r = a * b
                if r == 0.0 and a != 0.0 and b != 0.0:
                    raise OverflowError("underflow")
            elif op == "/":
                r = a / b
                if r == 0.0 and a != 0.0:
                    raise OverflowError("underflow")
            else:
                if abs(b) > MAX_EXPONENT:
                    raise self.fail(
                        f"The exponent {b:.6g} is too large (the limit is {MAX_EXPONENT:g})",
                        node,
                        "Use an exponent between -1000 and 1000.",
                    )
                raw = a**b
                if isinstance(raw, complex):
                    raise self.fail(
                        f"The constant {a:g}^{b:g} is not a real number",
                        node,
                        "Raise only non-negative numbers to fractional powers.",
                    )
                r = float(raw)
                if r == 0.0 and a != 0.0:
                    raise OverflowError("underflow")
        except ZeroDivisionError:
            raise self.fail(
                "Division by zero in a constant part", node, "Remove the division by zero."
            ) from None
        except OverflowError:
            raise self.fail(
                "A constant part overflows or underflows double precision",
                node,
                "Use smaller numbers or exponents.",
            ) from None
        if not math.isfinite(r):
            raise self.fail(
                "A constant part is not a finite number",
                node,
                "Use smaller numbers or exponents.",
            )
        return r

    def check_power_size(self, base: sympy.Expr, exponent: float, node: ast.AST) -> None:
        # Before SymPy computes a constant power exactly: estimate its size in bits.
        bits = _max_rational_bits(base) * max(1.0, abs(exponent))
        if bits > MAX_CONSTANT_BITS:
            raise self.fail(
                "A constant power is too large to compute exactly",
                node,
                "Write the constant as a decimal number instead.",
            )

    def check_constant_size(self, expr: sympy.Expr, node: ast.AST) -> None:
        if _max_rational_bits(expr) > MAX_CONSTANT_BITS:
            raise self.fail(
                "A constant part is too large to compute exactly",
                node,
                "Write the constant as a decimal number instead.",
            )

    def call(self, node: ast.Call) -> tuple[sympy.Expr, float | None]:
        if not isinstance(node.func, ast.Name):
            raise self.fail(
                f"{_describe(node.func)} is not allowed; only named functions can be called",
                node,
                f"The functions available are {', '.join(FUNCTIONS)}.",
            )
        if node.func.id not in FUNCTIONS:
            raise self.fail(
                f"Calling {_shorten(node.func.id, 40)!r} is not allowed",
                node,
                f"The functions available are {', '.join(FUNCTIONS)}.",
            )
        fname = node.func.id
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise self.fail(
                f"The function {fname!r} takes exactly one positional argument",
                node,
                f"Write it as {fname}(x), without keywords or extra arguments.",
            )
        arg, varg = self.visit(node.args[0])
        sym_fn, float_fn = FUNCTIONS[fname]
        value = None
        if varg is not None:
            try:
                value = float(float_fn(varg))
            except (ValueError, OverflowError):
                raise self.fail(
                    f"{fname}({varg:g}) is not a finite real number",
                    node,
                    f"Keep the argument of {fname} inside its real domain.",
                ) from None
            if not math.isfinite(value):
                raise self.fail(
                    f"{fname}({varg:g}) is not a finite real number",
                    node,
                    f"Keep the argument of {fname} inside its real domain.",
                )
        result = sym_fn(arg)
        if value is not None:
            self.check_constant_size(result, node)
        return result, value


def _max_rational_bits(expr: sympy.Expr) -> int:
    bits = 0
    for atom in expr.atoms(sympy.Rational):
        p, q = atom.as_numer_denom()
        bits = max(bits, int(abs(int(p))).bit_length(), int(q).bit_length())
    return bits


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "Attribute access (a.b)",
        "Subscript": "Indexing (a[i])",
        "Lambda": "A lambda",
        "Compare": "A comparison",
        "BoolOp": "A boolean operator (and/or)",
        "JoinedStr": "An f-string",
        "NamedExpr": "An assignment expression (:=)",
        "Starred": "Unpacking (*a)",
        "IfExp": "A conditional expression",
        "Tuple": "A tuple (a comma)",
        "List": "A list",
        "Dict": "A dict",
        "Set": "A set",
        "ListComp": "A comprehension",
        "SetComp": "A comprehension",
        "DictComp": "A comprehension",
        "GeneratorExp": "A generator expression",
        "Await": "await",
        "Yield": "yield",
        "YieldFrom": "yield",
    }
    return names.get(type(node).__name__, f"The construct {type(node).__name__}")


_GROUPS = ((ast.Add, ast.Sub), (ast.Mult, ast.Div))


def _left_chain(node: ast.BinOp) -> tuple[ast.expr, list[tuple[ast.operator, ast.BinOp]]]:
    """Split ``a + b - c`` (a left-leaning chain of one precedence group) into its base
    ``a`` and the links ``[(+, .. + b), (-, .. - c)]`` in evaluation order."""
    group = next((g for g in _GROUPS if isinstance(node.op, g)), None)
    links: list[tuple[ast.operator, ast.BinOp]] = [(node.op, node)]
    cur: ast.expr = node.left
    while group and isinstance(cur, ast.BinOp) and isinstance(cur.op, group):
        links.append((cur.op, cur))
        cur = cur.left
    links.reverse()
    return cur, links


def _depth(node: ast.AST) -> int:
    """Nesting depth, counting a chain like a + b + c + d as one level."""
    if isinstance(node, ast.BinOp):
        base, links = _left_chain(node)
        return 1 + max(_depth(base), *(_depth(link.right) for _, link in links))
    children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
    return 1 + max((_depth(c) for c in children), default=0)


def _natural_key(name: str) -> tuple[Any, ...]:
    # x before y, and x2 before x10
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def _check_variables(variables: Sequence[str]) -> tuple[str, ...]:
    if isinstance(variables, str):
        raise ExpressionError(
            f"The 'variables' argument must be a sequence of names, got the string "
            f"{variables!r}. Pass a list, e.g. variables=['x', 'y']."
        )
    names = tuple(variables)
    if len(names) > MAX_VARIABLES:
        raise ExpressionError(
            f"{len(names)} variables are declared; the limit is {MAX_VARIABLES}. Declare only "
            "the variables the expression uses."
        )
    for v in names:
        if not isinstance(v, str) or not _NAME_RE.match(v):
            raise ExpressionError(
                f"The variable name {v!r} is not allowed: names start with a letter and use "
                "only letters, digits and '_' (at most 32 characters). Rename the variable."
            )
        if v in CONSTANTS or v in FUNCTIONS:
            raise ExpressionError(
                f"The variable name {v!r} clashes with the built-in "
                f"{'constant' if v in CONSTANTS else 'function'} of that name. Rename the "
                "variable."
            )
    if len(set(names)) != len(names):
        raise ExpressionError(
            f"The variables {list(names)} contain duplicates. List each variable once."
        )
    return names


def parse_expression(
    text: str, variables: Sequence[str] | None = None
) -> tuple[sympy.Expr, tuple[sympy.Symbol, ...]]:
    """Parse a typed expression safely into SymPy, never evaluating the text as code.

    Parameters
    ----------
    text : str
        At most 500 ASCII characters, e.g. ``"x^2 + 3*sin(y)"``. ``^`` means power.
    variables : sequence of str, optional
        The variable names, in order. If omitted, they are the names used in `text`, sorted
        naturally (``x`` before ``y``, ``x2`` before ``x10``).

    Returns
    -------
    expr : sympy.Expr
        The expression, with real symbols.
    symbols : tuple of sympy.Symbol
        One symbol per variable, in order (declared variables that do not occur are kept).

    Raises
    ------
    ExpressionError
        With one line saying what was wrong, where, and how to fix it.
    """
    if not isinstance(text, str):
        raise ExpressionError(
            f"The expression must be a str, got {type(text).__name__}. Pass the formula as "
            "text, e.g. 'x^2 + y^2', or build a SymbolicFunction from a SymPy expression."
        )
    declared = None if variables is None else _check_variables(variables)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"The expression is {len(text)} characters long; the limit is {MAX_LENGTH}. "
            "Shorten it."
        )
    if not text.isascii():
        bad = next(i for i, ch in enumerate(text) if not ch.isascii())
        raise ExpressionError(
            f"Non-ASCII character {text[bad]!r} at column {bad + 1} in expression "
            f"{_shorten(text)!r}. Use plain ASCII, e.g. 'pi' instead of a Greek letter."
        )
    if not text.strip():
        raise ExpressionError("The expression is empty. Type a formula, e.g. 'x^2 + y^2'.")
    # Python's parser would drop a comment and join lines silently: refuse them first
    stray = next((i for i, ch in enumerate(text) if ch in "#;\\" or (ch < " " and ch != "\t")),
                 None)
    if stray is not None:
        raise ExpressionError(
            f"The character {text[stray]!r} at column {stray + 1} is not part of an expression "
            f"(comments, line breaks and statements are not allowed) in expression "
            f"{_shorten(text)!r}. {GRAMMAR}"
        )
    _check_brackets(text)
    lead = len(text) - len(text.lstrip())
    stripped = text.strip()
    rewritten = stripped.replace("^", "**")
    parser = _Parser(text, lead, declared)
    try:
        tree = ast.parse(rewritten, mode="eval")
    except SyntaxError as exc:
        where = ""
        if exc.offset is not None and exc.lineno == 1:
            where = f" at column {parser.column(exc.offset - 1)}"
        raise ExpressionError(
            f"Syntax error{where} in expression {_shorten(text)!r}: {exc.msg}. Check the "
            "brackets and operators, e.g. write 2*x, not 2x."
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(
            f"The expression {_shorten(text)!r} could not be parsed ({exc}). Simplify it."
        ) from None
    n_nodes = sum(1 for n in ast.walk(tree) if isinstance(n, ast.expr))
    if n_nodes > MAX_NODES:
        raise ExpressionError(
            f"The expression {_shorten(text)!r} has {n_nodes} parts; the limit is "
            f"{MAX_NODES}. Simplify it."
        )
    depth = _depth(tree.body)
    if depth > MAX_DEPTH:
        raise ExpressionError(
            f"The expression {_shorten(text)!r} is nested {depth} levels deep; the limit is "
            f"{MAX_DEPTH}. Remove redundant brackets or simplify it."
        )
    expr, _ = parser.visit(tree)
    if expr.has(sympy.zoo, sympy.oo, sympy.nan, sympy.I):
        # e.g. x/0 or log(0*x): SymPy folds these to complex infinity or I
        raise ExpressionError(
            f"The expression {_shorten(text)!r} contains a division by zero, an infinite "
            f"value or an imaginary part (it becomes {_shorten(str(expr), 60)}). Remove the "
            "division by zero or the root/log of a negative number."
        )
    if declared is None:
        if len(parser.symbols) > MAX_VARIABLES:
            raise ExpressionError(
                f"The expression {_shorten(text)!r} uses {len(parser.symbols)} variables; the "
                f"limit is {MAX_VARIABLES}. Use fewer variables."
            )
        names = tuple(sorted(parser.symbols, key=_natural_key))
    else:
        names = declared
    symbols = tuple(parser.symbols.get(n) or sympy.Symbol(n, real=True) for n in names)
    extra = {s.name for s in expr.free_symbols} - set(names)
    if extra:  # cannot happen by construction; a cheap guard on the contract
        raise ExpressionError(f"Undeclared names {sorted(extra)} in expression {text!r}.")
    return expr, symbols


def _check_brackets(text: str) -> None:
    # Brackets make no AST node, so the tree depth does not see them; bound them here.
    level = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            level += 1
            if level > MAX_DEPTH:
                raise ExpressionError(
                    f"Brackets are nested more than {MAX_DEPTH} levels deep at column {i + 1} "
                    f"in expression {_shorten(text)!r}. Remove redundant brackets."
                )
        elif ch in ")]}":
            level -= 1
            if level < 0:
                raise ExpressionError(
                    f"Unmatched closing bracket at column {i + 1} in expression "
                    f"{_shorten(text)!r}. Remove it or add the matching '('."
                )
    if level > 0:
        raise ExpressionError(
            f"{level} bracket(s) opened but never closed in expression {_shorten(text)!r}. "
            "Add the missing ')'."
        )


def _gradient(expr: sympy.Expr, symbols: tuple[sympy.Symbol, ...]) -> list[sympy.Expr]:
    """First derivatives, without simplification (its cost is unbounded)."""
    return [_drop_delta(sympy.diff(expr, s)) for s in symbols]


def _hessian_entries(
    grad: Sequence[sympy.Expr], symbols: tuple[sympy.Symbol, ...]
) -> list[sympy.Expr]:
    """The upper triangle H[i, j], i <= j, row by row: d (d + 1) / 2 entries."""
    d = len(symbols)
    return [_drop_delta(sympy.diff(grad[i], symbols[j])) for i in range(d) for j in range(i, d)]


def _drop_delta(expr: sympy.Expr) -> sympy.Expr:
    # d/dx sign(x) = 2 DiracDelta(x): zero almost everywhere, and NumPy cannot evaluate it.
    if expr.has(sympy.DiracDelta):
        return expr.replace(sympy.DiracDelta, lambda *args: sympy.Integer(0))
    return expr


def _source(symbols: Sequence[sympy.Symbol], exprs: Any, cse: bool) -> str:
    """The Python source of ``sympy.lambdify(symbols, exprs, "numpy")``: code generation, the
    costly part of lambdify, done where the time budget holds."""
    fn = sympy.lambdify(list(symbols), exprs, modules="numpy", cse=cse)
    text = inspect.getsource(fn)
    if len(text) > MAX_SOURCE_CHARS:
        raise ExpressionError(
            f"The derivatives make {len(text):,} characters of code, over the limit of "
            f"{MAX_SOURCE_CHARS:,}. Simplify the expression."
        )
    return text


_NAMESPACE: dict[str, Any] = {}


def _function(source: str) -> Callable[..., Any]:
    """Compile source made by :func:`_source` in lambdify's NumPy namespace."""
    if not _NAMESPACE:
        _NAMESPACE.update(sympy.lambdify([], 0, modules="numpy").__globals__)
    namespace = dict(_NAMESPACE)
    # lambdify compiled this very source in the worker, within the budget; compiling it again
    # takes about as long
    try:
        exec(compile(source, "<gdlab-expression>", "exec"), namespace)  # noqa: S102
    except (RecursionError, MemoryError, SyntaxError) as exc:
        raise ExpressionError(
            f"The code generated for the derivatives could not be compiled "
            f"({type(exc).__name__}). Simplify the expression."
        ) from None
    return namespace["_lambdifygenerated"]


def _build(text: str, variables: Sequence[str] | None, hessian: bool) -> dict[str, Any]:
    """Parse, differentiate and generate code: all the work the time budget covers."""
    expr, symbols = parse_expression(text, variables)
    grad = _gradient(expr, symbols)
    out = {"expr": expr, "symbols": symbols, "grad": grad,
           "f": _source(symbols, expr, cse=False),
           "fg": _source(symbols, [expr, *grad], cse=True)}
    if hessian:
        out.update(_build_hessian(grad, symbols))
    return out


def _build_hessian(grad: Sequence[sympy.Expr], symbols: tuple[sympy.Symbol, ...]
                   ) -> dict[str, Any]:
    entries = _hessian_entries(grad, symbols)
    return {"hessian": entries, "h": _source(symbols, entries, cse=True)}


def _worker(conn: Any, job: Callable[..., Any], args: tuple[Any, ...], memory: int) -> None:
    try:
        _limit_memory(memory)
        conn.send(("ok", job(*args)))
    except ExpressionError as exc:
        conn.send(("error", str(exc)))
    except MemoryError:
        conn.send(("failed", f"it needed more than {memory // 2**20} MB of memory"))
    except Exception as exc:  # report, never hang the parent
        conn.send(("failed", f"{type(exc).__name__}: {_shorten(str(exc))}"))
    finally:
        conn.close()


def _limit_memory(extra: int) -> None:
    """Cap this (worker) process's data segment at its current size plus `extra` bytes."""
    try:
        import resource

        with open("/proc/self/status") as fh:
            data = next(int(line.split()[1]) * 1024 for line in fh
                        if line.startswith("VmData"))
        resource.setrlimit(resource.RLIMIT_DATA, (data + extra, data + extra))
    except (ImportError, OSError, ValueError, StopIteration):
        pass  # not Linux: the time budget still holds


def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(
            f"The 'timeout' parameter of compile_function must be a float in the range "
            f"(0.0, inf). Got {_shorten(repr(timeout))} instead."
        )
    return float(timeout)


def _in_worker(job: Callable[..., Any], args: tuple[Any, ...], text: str,
               deadline: float, timeout: float) -> Any:
    """Run ``job(*args)`` in a forked worker killed at `deadline` (time.monotonic())."""
    methods = multiprocessing.get_all_start_methods()
    ctx: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(send, job, args, MAX_WORKER_MEMORY), daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(max(0.0, deadline - time.monotonic())):
            raise ExpressionError(
                f"Parsing, differentiating and compiling {_shorten(text)!r} took longer than "
                f"{timeout:g} s and was stopped. Simplify the expression or pass a larger "
                "timeout."
            )
        status, payload = recv.recv()
    except EOFError:
        raise ExpressionError(
            f"The worker differentiating {_shorten(text)!r} died (exit code "
            f"{proc.exitcode}). Simplify the expression."
        ) from None
    finally:
        recv.close()
        if proc.is_alive():
            proc.terminate()
        proc.join(1.0)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status == "error":
        raise ExpressionError(payload)
    if status == "failed":
        raise ExpressionError(
            f"Could not differentiate {_shorten(text)!r}: {payload}. Simplify the expression."
        )
    return payload


class SymbolicFunction:
    """A scalar function of d variables with exact derivatives and vectorized evaluation.

    Build it from text (parsed safely; parsing, differentiation and code generation run in a
    worker process within one time budget) or from a trusted SymPy expression and its
    symbols. The Hessian is derived only when it is asked for (or with ``hessian=True``).

    Parameters
    ----------
    expr : str or sympy.Expr
        ``"x^2 + 3*y"`` or a SymPy expression.
    variables : sequence of str or sympy.Symbol, optional
        Order of the variables. Inferred (sorted naturally) when omitted.
    timeout : float, default=1.5
        Seconds allowed for parsing, differentiating and compiling text (each later
        derivation of the Hessian gets the same allowance).
    hessian : bool, default=False
        Derive and compile the Hessian now, within the same budget (critical points need it;
        descent does not).

    Attributes
    ----------
    expr : sympy.Expr
    variables : tuple of sympy.Symbol
    n_vars : int
    gradient_exprs : list of sympy.Expr, length n_vars
    hessian_exprs : sympy.Matrix of shape (n_vars, n_vars)
        Derived on first access.
    text : str
        The typed text, or ``str(expr)`` for a SymPy-built function.

    Notes
    -----
    Points ``P`` have shape ``(..., n_vars)``; ``value`` returns shape ``(...)``, ``grad``
    ``(..., n_vars)``, ``hessian`` ``(..., n_vars, n_vars)``. For a 1-D function an array
    whose last axis is not of length 1 (or a scalar) is read as a batch of scalar points:
    ``f.value(np.array([0., 1., 2.]))`` has shape (3,) and ``f.grad`` of it shape (3, 1).
    Evaluation never warns: points outside the real domain give NaN, overflow gives inf.
    """

    def __init__(
        self,
        expr: str | sympy.Expr,
        variables: Sequence[str | sympy.Symbol] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        hessian: bool = False,
    ) -> None:
        self._timeout = _check_timeout(timeout)
        self._hessian_entries: list[sympy.Expr] | None = None
        self._h: Callable[..., Any] | None = None
        if isinstance(expr, str):
            names = None if variables is None else [str(v) for v in variables]
            start = time.monotonic()
            # cheap mistakes are reported in-process: parsing alone is bounded by the limits
            parse_expression(expr, names)
            built = _in_worker(_build, (expr, names, hessian), expr, start + self._timeout,
                               self._timeout)
            self._trusted = False
            self.expr: sympy.Expr = built["expr"]
            self.variables: tuple[sympy.Symbol, ...] = tuple(built["symbols"])
            self.gradient_exprs: list[sympy.Expr] = list(built["grad"])
            self._f = _function(built["f"])
            self._fg = _function(built["fg"])
            if hessian:
                self._hessian_entries, self._h = built["hessian"], _function(built["h"])
            self.text: str = expr
        else:
            if not isinstance(expr, sympy.Basic):
                raise TypeError(
                    f"SymbolicFunction needs a str or a sympy expression, got "
                    f"{type(expr).__name__}. Pass text such as 'x^2 + y^2'."
                )
            self._trusted = True
            self.expr = expr
            self.variables = _symbols_for(expr, variables)
            self.gradient_exprs = _gradient(expr, self.variables)
            args = list(self.variables)
            self._f = sympy.lambdify(args, self.expr, modules="numpy")
            self._fg = sympy.lambdify(args, [self.expr, *self.gradient_exprs],
                                      modules="numpy", cse=True)
            self.text = str(expr)
        self.n_vars: int = len(self.variables)
        if self.n_vars == 0:
            raise ExpressionError(
                f"The expression {_shorten(self.text)!r} has no variables. Use at least one, "
                "e.g. 'x^2', or pass variables=['x']."
            )
        d = self.n_vars
        self._iu = [(i, j) for i in range(d) for j in range(i, d)]
        if self._trusted and hessian:
            self._ensure_hessian()

    def _ensure_hessian(self) -> Callable[..., Any]:
        """Derive and compile the Hessian once (in a worker, within the budget, for text)."""
        if self._h is None:
            if self._trusted:
                self._hessian_entries = _hessian_entries(self.gradient_exprs, self.variables)
                self._h = sympy.lambdify(list(self.variables), self._hessian_entries,
                                         modules="numpy", cse=True)
            else:
                built = _in_worker(_build_hessian, (self.gradient_exprs, self.variables),
                                   self.text, time.monotonic() + self._timeout, self._timeout)
                self._hessian_entries, self._h = built["hessian"], _function(built["h"])
        return self._h

    @property
    def hessian_exprs(self) -> sympy.Matrix:
        """The Hessian as a SymPy matrix of shape (n_vars, n_vars), derived on first use."""
        self._ensure_hessian()
        assert self._hessian_entries is not None
        H = sympy.zeros(self.n_vars, self.n_vars)
        for (i, j), hij in zip(self._iu, self._hessian_entries, strict=True):
            H[i, j] = hij
            H[j, i] = hij
        return H

    # -- evaluation -------------------------------------------------------------------------

    def _points(self, P: ArrayLike) -> tuple[list[NDArray[Any]], tuple[int, ...], Any]:
        arr = np.asarray(P)
        if arr.dtype.kind not in "fiub":
            raise ValueError(
                f"Input P must be a numeric array of points, got dtype {arr.dtype}. Pass "
                f"floats of shape (..., {self.n_vars})."
            )
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        if self.n_vars == 1 and (arr.ndim == 0 or arr.shape[-1] != 1):
            arr = arr[..., None]
        if arr.ndim == 0 or arr.shape[-1] != self.n_vars:
            raise ValueError(
                f"Input P must have shape (..., {self.n_vars}) for a function of "
                f"{self._names()}, got shape {arr.shape} instead. Put one coordinate per "
                "variable on the last axis."
            )
        cols = [arr[..., k] for k in range(self.n_vars)]
        return cols, arr.shape[:-1], arr.dtype

    def _names(self) -> str:
        return "(" + ", ".join(s.name for s in self.variables) + ")"

    @staticmethod
    def _full(v: Any, shape: tuple[int, ...], dtype: Any) -> NDArray[Any]:
        # lambdify returns a Python scalar for a constant derivative: broadcast it.
        out = np.asarray(v, dtype=dtype)
        if out.shape != shape:
            out = np.broadcast_to(out, shape).copy()
        return out

    def value(self, P: ArrayLike) -> NDArray[Any]:
        """f at points P of shape (..., d) -> shape (...)."""
        cols, shape, dtype = self._points(P)
        with np.errstate(all="ignore"):
            return self._full(self._f(*cols), shape, dtype)

    __call__ = value

    def grad(self, P: ArrayLike) -> NDArray[Any]:
        """Gradient at points P of shape (..., d) -> shape (..., d)."""
        cols, shape, dtype = self._points(P)
        with np.errstate(all="ignore"):
            comps = self._fg(*cols)[1:]
        return self._stack(comps, shape, dtype)

    def value_and_grad(self, P: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
        """(f, grad f) at points P of shape (..., d): shapes (...) and (..., d).

        Shares common subexpressions between value and gradient, so it is cheaper than two
        calls.
        """
        cols, shape, dtype = self._points(P)
        with np.errstate(all="ignore"):
            out = self._fg(*cols)
        return self._full(out[0], shape, dtype), self._stack(out[1:], shape, dtype)

    def hessian(self, P: ArrayLike) -> NDArray[Any]:
        """Hessian at points P of shape (..., d) -> shape (..., d, d), symmetric."""
        h = self._ensure_hessian()
        cols, shape, dtype = self._points(P)
        d = self.n_vars
        with np.errstate(all="ignore"):
            entries = h(*cols)
        H = np.empty((*shape, d, d), dtype=dtype)
        for (i, j), hij in zip(self._iu, entries, strict=True):
            H[..., i, j] = hij
            H[..., j, i] = hij
        return H

    def _stack(self, comps: Sequence[Any], shape: tuple[int, ...], dtype: Any) -> NDArray[Any]:
        out = np.empty((*shape, self.n_vars), dtype=dtype)
        for k, c in enumerate(comps):
            out[..., k] = c  # broadcasting assignment handles constant components
        return out

    # -- text -------------------------------------------------------------------------------

    def __str__(self) -> str:
        return f"f{self._names()} = {self.expr}"

    def __repr__(self) -> str:
        return f"SymbolicFunction({self.text!r}, variables={[s.name for s in self.variables]})"

    def latex(self) -> str:
        """LaTeX of f."""
        return str(sympy.latex(self.expr))

    def gradient_text(self) -> str:
        """One line per partial derivative: ``df/dx = ...``."""
        return "\n".join(
            f"df/d{s.name} = {g}" for s, g in zip(self.variables, self.gradient_exprs, strict=True)
        )

    def gradient_latex(self) -> str:
        """LaTeX of the gradient as a column vector."""
        return r"\nabla f = " + str(sympy.latex(sympy.Matrix(self.gradient_exprs)))

    def hessian_latex(self) -> str:
        """LaTeX of the Hessian matrix."""
        return r"H_f = " + str(sympy.latex(self.hessian_exprs))


def _symbols_for(
    expr: sympy.Basic, variables: Sequence[str | sympy.Symbol] | None
) -> tuple[sympy.Symbol, ...]:
    free = {s.name: s for s in expr.free_symbols if isinstance(s, sympy.Symbol)}
    if variables is None:
        return tuple(free[n] for n in sorted(free, key=_natural_key))
    symbols = []
    for v in variables:
        if isinstance(v, sympy.Symbol):
            symbols.append(v)
        elif isinstance(v, str):
            symbols.append(free.get(v, sympy.Symbol(v, real=True)))
        else:
            raise TypeError(
                f"Each variable must be a str or sympy.Symbol, got {type(v).__name__}. "
                "Pass e.g. variables=['x', 'y']."
            )
    missing = set(expr.free_symbols) - set(symbols)
    if missing:
        names = ", ".join(sorted(str(s) for s in missing))
        raise ExpressionError(
            f"The expression {_shorten(str(expr))} uses {names}, which are not in variables "
            f"{[str(s) for s in symbols]}. Add them to variables."
        )
    return tuple(symbols)


def compile_function(
    text: str,
    variables: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    hessian: bool = False,
) -> SymbolicFunction:
    """Parse, differentiate and compile typed text within `timeout` seconds in all.

    Parsing, differentiation and code generation run in a worker process (fork) stopped at
    the deadline, its memory capped at ``MAX_WORKER_MEMORY``; an `ExpressionError` says so.
    With ``hessian=True`` the Hessian is derived within the same budget (otherwise on first
    use). Returns a `SymbolicFunction`.
    """
    return SymbolicFunction(text, variables, timeout=timeout, hessian=hessian)
