"""An offline structural check of LogQL metric queries (the Loki ruler's expressions).

No Loki runs here and no LogQL parser exists for Python, so :func:`logql_problems` checks what
can be checked without one, the way Loki reads a query:

- every log range (``{selector} <line filters> [range]``) sits directly in one of LogQL's range
  aggregations (``count_over_time``, ``rate``, ...);
- its stream selector is a label-matcher list a PromQL parser accepts, which (like Loki) wants
  at least one matcher that cannot match the empty value;
- its pipeline holds only line filters (``|=``, ``!=``, ``|~``, ``!~`` and a string), and each
  regex filter compiles as RE2 (Loki's regex engine);
- with each log range replaced by a PromQL range selector, the query parses as PromQL: the
  aggregations, comparisons and ``by`` clauses LogQL shares with it are well formed.

A query using other stages (parsers, label filters, formatters) is reported as not checkable
rather than passed: the shipped rules use none.
"""

from __future__ import annotations

import json
import re

import promql_parser
import re2

__all__ = ["RANGE_AGGREGATIONS", "logql_problems"]

RANGE_AGGREGATIONS = (
    "count_over_time",
    "rate",
    "bytes_over_time",
    "bytes_rate",
    "absent_over_time",
)
"""LogQL's range aggregations over a log range (no unwrap)."""
_LINE_FILTER = re.compile(r'\s*(\|=|!=|\|~|!~)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)')
_RANGE = re.compile(r"\s*\[\s*(\d+(?:ms|s|m|h|d|w|y))\s*\]")
_FUNCTION = re.compile(r"([a-z_]+)\s*\(\s*$")


class _Problem(ValueError):
    pass


def _compile(pattern: str) -> str | None:
    """Why RE2 refuses ``pattern``, or None when it compiles."""
    options = re2.Options()
    options.log_errors = False  # the error comes back as a value, not on stderr
    try:
        re2.compile(pattern, options=options)
    except re2.error as exc:
        return exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    return None


def _selector_end(expr: str, start: int) -> int:
    """The index after the ``}`` closing the selector opened at ``start`` (quotes respected)."""
    quote = ""
    index = start + 1
    while index < len(expr):
        char = expr[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"`'":
            quote = char
        elif char == "}":
            return index + 1
        index += 1
    raise _Problem("a stream selector is not closed")


def _string(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    value = json.loads(literal)
    assert isinstance(value, str)
    return value


def _check_selector(selector: str) -> None:
    try:
        node = promql_parser.parse(selector)
    except ValueError as error:
        raise _Problem(f"stream selector {selector} does not parse: {error}") from None
    if not isinstance(node, promql_parser.VectorSelector):
        raise _Problem(f"{selector} is not a stream selector")


def _rewrite(expr: str) -> tuple[str, int]:
    """``expr`` with every log range turned into a PromQL range selector, and how many there
    were; _Problem when a log range is not where LogQL allows it or its pipeline is not line
    filters."""
    out: list[str] = []
    index = 0
    ranges = 0
    while True:
        start = expr.find("{", index)
        if start < 0:
            out.append(expr[index:])
            return "".join(out), ranges
        before = expr[index:start]
        function = _FUNCTION.search(expr[:start])
        if function is None or function.group(1) not in RANGE_AGGREGATIONS:
            raise _Problem("a log range is not the argument of a range aggregation (count_over_time, ...)")
        end = _selector_end(expr, start)
        selector = expr[start:end]
        _check_selector(selector)
        position = end
        while (line_filter := _LINE_FILTER.match(expr, position)) is not None:
            operator, literal = line_filter.groups()
            try:
                text = _string(literal)
            except ValueError:
                raise _Problem(f"line filter {literal} is not a string") from None
            if operator in ("|~", "!~") and (reason := _compile(text)) is not None:
                raise _Problem(f"line filter regex {text!r} does not compile: {reason}")
            position = line_filter.end()
        window = _RANGE.match(expr, position)
        if window is None:
            rest = expr[position:].strip()[:30]
            raise _Problem(f"cannot check the pipeline stage at {rest!r}: only line filters are understood")
        out += [before, selector, f"[{window.group(1)}]"]
        ranges += 1
        index = window.end()


def logql_problems(expr: str) -> list[str]:
    """What is wrong with the LogQL metric query ``expr``, as far as can be told offline; []
    when nothing is."""
    try:
        rewritten, ranges = _rewrite(expr)
        if not ranges:
            raise _Problem("has no log range: not a LogQL metric query")
        promql_parser.parse(rewritten)
    except _Problem as problem:
        return [str(problem)]
    except ValueError as error:
        return [f"does not parse: {error}"]
    return []
