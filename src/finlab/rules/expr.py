"""Conditions an analyst writes in a rule file, e.g. `high_risk_count_30d >= 3 and night_share_90d
> 0.5` or `channel in ("remittance", "p2p_app")`, compiled once into a safe evaluator over
columns (numpy arrays). Only names, numbers, text, comparisons, `and`/`or`/`not`, arithmetic and
`abs`/`min`/`max` are allowed; nothing else in Python is reachable."""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv}
_FUNCS = {"abs": lambda x: np.abs(x),
          "min": lambda *xs: functools.reduce(np.minimum, xs),
          "max": lambda *xs: functools.reduce(np.maximum, xs)}
#: how many arguments each function takes (at least, at most)
_ARITY = {"abs": (1, 1), "min": (2, 16), "max": (2, 16)}
#: longest condition and deepest nesting of its parts (analysts write a line or two)
MAX_CHARS = 2000
MAX_DEPTH = 32


#: columns that are true/false on their own and may stand alone as a condition
_BOOLEAN_NAMES = {"night", "cross_border", "high_risk", "cover_word", "even", "related"}


class ExpressionError(ValueError):
    """A condition that cannot be compiled: message names the problem and its column."""


@dataclass(frozen=True)
class Expression:
    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, columns: Mapping[str, np.ndarray],
                 encode: Mapping[str, Callable[[str], int]] | None = None) -> np.ndarray:
        """Evaluate over named columns; `encode` turns text constants compared with a coded
        column (e.g. channel) into its codes. A row where the expression divides by zero is
        undefined: a condition never matches there (even under `not`), a value is NaN."""
        ev = _Evaluator(columns, encode or {})
        with np.errstate(divide="ignore", invalid="ignore"):
            result = ev.visit(self.tree.body)
        if ev.undefined is not None and np.any(ev.undefined):
            if np.asarray(result).dtype == bool:
                result = np.logical_and(result, ~ev.undefined)
            else:
                result = np.where(ev.undefined, np.nan, result)
        return result


def compile_expression(text: str, known: set[str] | frozenset[str],
                       boolean: bool = False) -> Expression:
    """Parse and check an expression (with `boolean`, it must be a true/false test); raise
    ExpressionError saying what and where."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty condition")
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"longer than {MAX_CHARS} characters; split it into rules")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"syntax error at column {e.offset}: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels") from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"nested deeper than {MAX_DEPTH} levels; split it into rules")
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id in _FUNCS:
                continue
            if node.id not in known:
                raise ExpressionError(f"unknown name {node.id!r} at column {node.col_offset + 1}"
                                      f"{_suggest(node.id, known)}")
            names.add(node.id)
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS) or node.keywords:
                raise ExpressionError(f"only abs(), min() and max() may be called (column "
                                      f"{node.col_offset + 1})")
            low, high = _ARITY[node.func.id]
            if not low <= len(node.args) <= high:
                takes = "one argument" if high == 1 else f"{low} to {high} arguments"
                raise ExpressionError(f"{node.func.id}() takes {takes}, got {len(node.args)} "
                                      f"(column {node.col_offset + 1})")
        elif not isinstance(node, _ALLOWED):
            raise ExpressionError(f"{type(node).__name__} is not allowed in a condition (column "
                                  f"{getattr(node, 'col_offset', 0) + 1})")
    body = tree.body
    is_test = isinstance(body, ast.Compare | ast.BoolOp) or (
        isinstance(body, ast.UnaryOp) and isinstance(body.op, ast.Not)) or (
        isinstance(body, ast.Constant) and isinstance(body.value, bool)) or (
        isinstance(body, ast.Name) and body.id in _BOOLEAN_NAMES)
    if boolean and not is_test:
        raise ExpressionError("a condition must be a test such as `x >= 3` or `a and b`, "
                              f"not a value ({ast.unparse(body)})")
    return Expression(text, tree, frozenset(names))


def _depth(tree: ast.AST) -> int:
    """The deepest chain of nodes in `tree`, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH + 8:
            break
        stack.extend((child, d + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _suggest(name: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
            ast.Compare, ast.BinOp, ast.Name, ast.Load, ast.Constant, ast.Tuple, ast.List,
            ast.In, ast.NotIn, *_COMPARE, *_ARITH)


class _Evaluator(ast.NodeVisitor):
    def __init__(self, columns, encode):
        self.columns, self.encode = columns, encode
        self.undefined: np.ndarray | None = None  # rows that divided by zero

    def visit_Name(self, node):
        return np.asarray(self.columns[node.id])

    def visit_Constant(self, node):
        if isinstance(node.value, bool | int | float | str):
            return node.value
        raise ExpressionError(f"constant {node.value!r} is not allowed")

    def visit_BoolOp(self, node):
        values = [np.asarray(self.visit(v), bool) for v in node.values]
        op = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        out = values[0]
        for v in values[1:]:
            out = op(out, v)
        return out

    def visit_UnaryOp(self, node):
        value = self.visit(node.operand)
        return np.logical_not(value) if isinstance(node.op, ast.Not) else -np.asarray(value)

    def visit_BinOp(self, node):
        left = np.asarray(self.visit(node.left), float)
        right = np.asarray(self.visit(node.right), float)
        if isinstance(node.op, ast.Div):
            zero = right == 0
            if np.any(zero):
                self.undefined = zero if self.undefined is None else self.undefined | zero
        return _ARITH[type(node.op)](left, right)

    def visit_Call(self, node):
        return _FUNCS[node.func.id](*[self.visit(a) for a in node.args])

    def _operand(self, node, other):
        """A text constant next to a coded column becomes that column's code."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if isinstance(other, ast.Name) and other.id in self.encode:
                return self.encode[other.id](node.value)
            raise ExpressionError(f"text {node.value!r} can only be compared with "
                                  f"{', '.join(self.encode) or 'coded columns'}")
        if isinstance(node, ast.Tuple | ast.List):
            return [self._operand(e, other) for e in node.elts]
        return self.visit(node)

    def visit_Compare(self, node):
        result = None
        left_node = node.left
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            left = self._operand(left_node, right_node)
            right = self._operand(right_node, left_node)
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right, list):
                    raise ExpressionError("`in` needs a list, e.g. channel in (\"remittance\", "
                                          "\"crypto\")")
                part = np.isin(left, right)
                if isinstance(op, ast.NotIn):
                    part = ~part
            else:
                part = _COMPARE[type(op)](left, right)
            result = part if result is None else np.logical_and(result, part)
            left_node = right_node
        return result

    def generic_visit(self, node):
        raise ExpressionError(f"{type(node).__name__} is not allowed in a condition")
