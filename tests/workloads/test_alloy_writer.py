"""The Alloy writer: what it writes parses back to the same tree, and nothing escapes a literal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.alloy_syntax import Access, Array, Attribute, Call, Index, Literal, Object, parse
from fleet.alloy_syntax import Block as ParsedBlock
from workloads.alloy_writer import Attr, Block, Ref, quote, write_block
from workloads.alloy_writer import Call as CallValue
from workloads.alloy_writer import Index as IndexValue


def test_a_block_is_written_like_alloy_fmt() -> None:
    block = Block(
        "prometheus.remote_write",
        "central",
        (
            Block("endpoint", None, (Attr("url", "https://mimir.example/api/v1/push"), Attr("retries", 3))),
            Attr("external_labels", {"workload": "alpha", "team-name": "x"}),
            Attr("enabled", True),
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
            Attr("forward_to", [Ref("loki.write.local.receiver")]),
            Attr("password", IndexValue(Ref("remote.kubernetes.secret.auth.data"), 'key"]')),
            Attr("node", CallValue("sys.env", ("HOSTNAME",))),
            Attr("empty", {}),
            Attr("off", False),
        ),
    )
    (parsed,) = parse(write_block(block, 0)).body
    assert isinstance(parsed, ParsedBlock)
    assert (parsed.name, parsed.label) == ("loki.source.journal", "system")
    forward_to = parsed.attribute("forward_to")
    assert isinstance(forward_to, Array)
    (receiver,) = forward_to.items
    assert isinstance(receiver, Access) and receiver.name == "receiver"
    password = parsed.attribute("password")
    assert isinstance(password, Index) and password.index == Literal('key"]')
    node = parsed.attribute("node")
    assert isinstance(node, Call) and node.args == (Literal("HOSTNAME"),)
    assert parsed.attribute("empty") == Object(())
    assert parsed.attribute("off") == Literal(False)


def test_nested_blocks_are_indented() -> None:
    text = write_block(Block("a", None, (Block("b", None, (Attr("c", "d"),)),)), indent=1)
    assert text == '  a {\n    b {\n      c = "d"\n    }\n  }\n'


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: Ref('a.b"c'), "is not a reference"),
        (lambda: CallValue("env(", ()), "is not a function name"),
        (lambda: Block("a b", None, ()), "is not a block name"),
        (lambda: Block("discovery.kubernetes", 'pods" {', ()), "is not a component label"),
        (lambda: write_block(Block("a", None, (Attr("b = 1\nc", "x"),))), "is not an attribute name"),
    ],
)
def test_names_that_could_inject_are_rejected(build: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        build()


def test_a_hostile_string_stays_one_literal() -> None:
    hostile = 'x"}\nprometheus.remote_write "leak" {\n}\u2028\x7f'
    (item,) = parse(write_block(Block("a", "b", (Attr("c", hostile),)))).body
    assert isinstance(item, ParsedBlock)
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
