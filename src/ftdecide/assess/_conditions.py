"""The small condition language of ``questions.yaml`` (follow-ups) and ``rules.yaml`` (decisions).

Conditions are data, written by people and read by people, so they are a
tiny, safe subset of Python expressions checked when the file is loaded:

    knowledge_changes_often and not rag_tried
    best_baseline_quality >= target_quality
    goal in ['format', 'style'] or alternatives.few_shot.tried

Names (dotted names are one name: ``alternatives.few_shot.tried``), numbers,
strings, ``True``/``False``/``None``, lists, ``and``/``or``/``not``,
comparisons (``< <= > >= == != in not in is is not``) and ``+ - * /``.
Nothing else parses: no calls, no attribute access on values, no indexing,
so a rules file can never run code.

Unknown values are ``None`` and logic is three-valued (Kleene): a comparison
with an unknown side is unknown, ``not unknown`` is unknown, ``False and
unknown`` is False, ``True or unknown`` is True. A rule fires and a
follow-up question is asked only when its condition is *True*, so a missing
answer never fires a rule by accident (``x is None`` asks about it
explicitly).
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["Condition", "ConditionError", "parse"]

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}


class ConditionError(ValueError):
    """A condition that does not parse or uses something outside the language."""


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


@dataclass(frozen=True)
class Condition:
    """A parsed condition: its text, the names it reads (in order) and an evaluator."""

    text: str
    names: tuple[str, ...]
    _tree: ast.expr = field(repr=False, compare=False)

    def evaluate(self, values: Mapping[str, Any]) -> bool | None:
        """True, False or None (unknown) for ``values`` (a flat mapping of names)."""
        result = _eval(self._tree, values)
        return None if result is None else bool(result)

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition is definitely true (unknown counts as not)."""
        return self.evaluate(values) is True


def parse(text: Any) -> Condition:
    """Parse ``text``; :class:`ConditionError` says what is not allowed and where."""
    if isinstance(text, bool):
        text = "True" if text else "False"
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("a condition must be a non-empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConditionError(f"does not parse: {exc.msg} (column {exc.offset})") from None
    names: list[str] = []
    _check(tree, names)
    return Condition(text.strip(), tuple(dict.fromkeys(names)), tree)


def _check(node: ast.AST, names: list[str]) -> None:
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        if name is None:
            raise ConditionError("attributes are allowed only on names (a.b.c)")
        if name not in ("True", "False", "None"):
            names.append(name)
        return
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool, type(None))):
            raise ConditionError(f"constant {node.value!r} is not allowed")
        return
    if isinstance(node, (ast.List, ast.Tuple)):
        for elt in node.elts:
            _check(elt, names)
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, names)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        _check(node.operand, names)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE and not isinstance(op, (ast.Is, ast.IsNot)):
                raise ConditionError(f"comparison {type(op).__name__} is not allowed")
        _check(node.left, names)
        for c in node.comparators:
            _check(c, names)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        _check(node.left, names)
        _check(node.right, names)
        return
    raise ConditionError(f"{type(node).__name__} is not allowed in a condition "
                         "(names, numbers, strings, lists, and/or/not, comparisons, + - * /)")


def _eval(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _dotted(node)
        if name == "True":
            return True
        if name == "False":
            return False
        if name == "None":
            return None
        return values.get(name)  # type: ignore[arg-type]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, values) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        unknown = False
        for v in node.values:
            r = _eval(v, values)
            if r is None:
                unknown = True
            elif isinstance(node.op, ast.And) and not r:
                return False
            elif isinstance(node.op, ast.Or) and r:
                return True
        if unknown:
            return None
        return isinstance(node.op, ast.And)
    if isinstance(node, ast.UnaryOp):
        r = _eval(node.operand, values)
        if r is None:
            return None
        return (not r) if isinstance(node.op, ast.Not) else -r
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        unknown = False
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, values)
            if isinstance(op, ast.Is):
                ok: Any = left is right
            elif isinstance(op, ast.IsNot):
                ok = left is not right
            elif left is None or right is None:
                unknown = True
                left = right
                continue
            else:
                try:
                    ok = _COMPARE[type(op)](left, right)
                except TypeError:
                    return None  # comparing a text with a number: unknown, not a crash
            if not ok:
                return False
            left = right
        return None if unknown else True
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, values), _eval(node.right, values)
        if a is None or b is None:
            return None
        try:
            return _ARITH[type(node.op)](a, b)
        except (ZeroDivisionError, TypeError):
            return None
    raise ConditionError(f"{type(node).__name__} is not allowed")  # pragma: no cover - _check refuses it
