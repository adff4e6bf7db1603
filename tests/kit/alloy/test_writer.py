"""The Alloy writer: what it writes parses back to the same tree, and nothing escapes a literal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.alloy.parser import parse
from kit.alloy.syntax import (
    Access,
    Array,
    Attribute,
    Binary,
    Block,
    Call,
    Expr,
    Identifier,
    Index,
    Literal,
    Object,
    Unary,
)
from kit.alloy.writer import attr, call, index, quote, ref, write_block, write_expr


def test_a_block_is_written_like_alloy_fmt() -> None:
    block = Block(
        "prometheus.remote_write",
        "central",
        (
            Block("endpoint", None, (attr("url", "https://mimir.example/api/v1/push"), attr("retries", 3))),
            attr("external_labels", {"workload": "alpha", "team-name": "x"}),
            attr("enabled", True),
        ),
    )
    assert write_block(block) == (
        'prometheus.remote_write "central" {\n'
        "  endpoint {\n"
        '    url     = "https://mimir.example/api/v1/push"\n'
        "    retries = 3\n"
        "  }\n"
        "\n"
        "  external_labels = {\n"
        '    workload    = "alpha",\n'
        '    "team-name" = "x",\n'
        "  }\n"
        "  enabled         = true\n"
        "}\n"
    )


def test_values_parse_back_to_what_was_built() -> None:
    block = Block(
        "loki.source.journal",
        "system",
        (
            attr("forward_to", [ref("loki.write.local.receiver")]),
            attr("password", index(ref("remote.kubernetes.secret.auth.data"), 'key"]')),
            attr("node", call("sys.env", "HOSTNAME")),
            attr("empty", {}),
            attr("off", False),
        ),
    )
    (parsed,) = parse(write_block(block, 0)).body
    assert parsed == block
    assert isinstance(parsed, Block) and parsed.line == 1  # positions are kept, never compared
    receiver = ref("loki.write.local.receiver")
    assert isinstance(receiver, Access) and receiver.name == "receiver"
    assert parsed.attribute("node") == Call(Access(Identifier("sys"), "env"), (Literal("HOSTNAME"),))


def test_nested_blocks_are_indented() -> None:
    text = write_block(Block("a", None, (Block("b", None, (attr("c", "d"),)),)), indent=1)
    assert text == '  a {\n    b {\n      c = "d"\n    }\n  }\n'


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: ref('a.b"c'), "is not a reference"),
        (lambda: call("env(", ()), "is not a reference"),
        (lambda: write_block(Block("a b", None, ())), "is not a block name"),
        (lambda: write_block(Block("discovery.kubernetes", 'pods" {', ())), "is not a component label"),
        (lambda: write_block(Block("a", None, (attr("b = 1\nc", "x"),))), "is not an attribute name"),
        (lambda: write_expr(Identifier("x }")), "is not an identifier"),
        (lambda: write_expr(Literal(float("nan"))), "is not a number"),
    ],
)
def test_names_that_could_inject_are_rejected(build: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        build()


def test_a_hostile_string_stays_one_literal() -> None:
    hostile = 'x"}\nprometheus.remote_write "leak" {\n}\u2028\x7f'
    (item,) = parse(write_block(Block("a", "b", (attr("c", hostile),)))).body
    assert isinstance(item, Block)
    assert [type(part) for part in item.body] == [Attribute]
    assert item.attribute("c") == Literal(hostile)
    assert "\n" not in quote(hostile) and "\u2028" not in quote(hostile)


@given(st.text())
def test_quote_round_trips_any_text_through_the_parser(value: str) -> None:
    if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
        with pytest.raises(ValueError, match="surrogate"):
            quote(value)
        return
    (item,) = parse(f"a = {quote(value)}\n").body
    assert isinstance(item, Attribute)
    assert item.value == Literal(value)
    assert "\n" not in quote(value)


# -- one tree, both directions: parse(write(tree)) == tree for any tree -------------------------------

_names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda name: name not in ("true", "false", "null")
)
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=0, max_value=10**12),
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    _text,
).map(Literal)
_references: st.SearchStrategy[Expr] = st.lists(_names, min_size=1, max_size=4).map(
    lambda parts: ref(".".join(parts))
)


def _compound(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.lists(children, max_size=3).map(lambda items: Array(tuple(items))),
        st.dictionaries(_text, children, max_size=3).map(lambda fields: Object(tuple(fields.items()))),
        st.tuples(_references, st.one_of(_literals, _references)).map(lambda pair: Index(*pair)),
        st.tuples(_references, st.lists(children, max_size=3)).map(lambda f: Call(f[0], tuple(f[1]))),
        st.tuples(st.sampled_from(["!", "-"]), children).map(lambda u: Unary(*u)),
        st.tuples(st.sampled_from(["+", "*", "==", "&&", "||", "<="]), children, children).map(
            lambda b: Binary(*b)
        ),
    )


# Negative literals are written as Unary("-", ...): the parser reads them that way too.
_expressions = st.recursive(st.one_of(_literals, _references), _compound, max_leaves=12)


def _blocks(depth: int) -> st.SearchStrategy[Block]:
    attributes = st.dictionaries(_names, _expressions, max_size=4).map(
        lambda fields: tuple(Attribute(name, value) for name, value in fields.items())
    )
    nested = st.lists(_blocks(depth - 1), max_size=2) if depth else st.just([])
    return st.builds(
        lambda name, label, items, children: Block(name, label, (*items, *children)),
        st.lists(_names, min_size=1, max_size=3).map(".".join),
        st.one_of(st.none(), _names),
        attributes,
        nested,
    )


@settings(max_examples=300)
@given(_blocks(2))
def test_any_tree_written_out_parses_back_to_itself(block: Block) -> None:
    (parsed,) = parse(write_block(block)).body
    assert parsed == block
