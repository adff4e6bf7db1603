"""Pydantic's validation errors in the words fleet's one-line errors use.

Pydantic words its errors for programmers ("Input should be greater than or equal to 1", "Input
should be a valid dictionary or instance of SecretRef"). Every place that turns a validation
error into a user's one line (the inventory, ``FLEET_*`` settings, command-line flags) says what
the value must be instead, in the inventory's terms, and never echoes the value itself: each
caller decides whether a value may be repeated (a secret may not).
"""

from __future__ import annotations

from typing import Any

_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be more than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
}

_TYPES = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
    "string_type": "expected a string",
}


def plain_message(item: Any) -> str:
    """One pydantic error (an entry of ``ValidationError.errors()``) as what the value must be.

    A validator's own message (``ValueError``) is kept as it is written; pydantic's generic
    ones are reworded. The value is never part of the result."""
    kind = str(item.get("type", ""))
    context = item.get("ctx") or {}
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        bound = context.get(key)
        return words.format(int(bound) if isinstance(bound, float) and bound.is_integer() else bound)
    if kind in _TYPES:
        return _TYPES[kind]
    if kind in ("literal_error", "enum"):
        return f"expected {context.get('expected')}"
    if kind == "string_pattern_mismatch":
        return f"does not match the pattern {context.get('pattern')}"
    if kind in ("too_short", "string_too_short"):
        return f"needs at least {context.get('min_length')} {_unit(kind, context.get('min_length'))}"
    if kind in ("too_long", "string_too_long"):
        return f"takes at most {context.get('max_length')} {_unit(kind, context.get('max_length'))}"
    return str(item.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _unit(kind: str, count: object) -> str:
    noun = "character" if kind.startswith("string_") else "item"
    return noun if count == 1 else f"{noun}s"
