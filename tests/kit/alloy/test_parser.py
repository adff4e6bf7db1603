"""The Alloy parser on real-looking configs, every expression form, and its errors."""

from __future__ import annotations

import pytest

from kit.alloy.parser import parse
from kit.alloy.syntax import (
    Access,
    AlloySyntaxError,
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
    components,
    reference_chain,
    references,
)

CONFIG = r"""
// Send everything to Mimir.
logging {
  level = "info"
}

prometheus.remote_write "central" {
  endpoint {
    url = "https://mimir.ctrl.example.com/api/v1/push" // trailing comment
    basic_auth {
      username = "shop"
      password = remote.kubernetes.secret.auth.data["password"]
    }
  }
  external_labels = {
    workload   = "shop",
    "team/app" = `payments`,
  }
}

/* the scrape
   that feeds it */
prometheus.scrape "pods" {
  targets    = discovery.relabel.pods.output
  forward_to = [
    prometheus.remote_write.central.receiver,
  ]
}
"""


def _value(text: str) -> Expr:
    """The value of the single attribute ``a`` in ``text``."""
    (item,) = parse(text).body
    assert isinstance(item, Attribute)
    return item.value


def test_parses_blocks_labels_attributes_and_nesting() -> None:
    document = parse(CONFIG)
    names = [(item.name, item.label) for item in document.body if isinstance(item, Block)]
    assert names == [
        ("logging", None),
        ("prometheus.remote_write", "central"),
        ("prometheus.scrape", "pods"),
    ]
    writer = document.body[1]
    assert isinstance(writer, Block)
    (endpoint,) = writer.blocks("endpoint")
    assert endpoint.attribute("url") == Literal("https://mimir.ctrl.example.com/api/v1/push")
    (auth,) = endpoint.blocks("basic_auth")
    assert auth.attribute("username") == Literal("shop")
    password = auth.attribute("password")
    assert isinstance(password, Index)
    assert reference_chain(password.value) == ("remote", "kubernetes", "secret", "auth", "data")
    assert password.index == Literal("password")
    labels = writer.attribute("external_labels")
    assert labels == Object((("workload", Literal("shop")), ("team/app", Literal("payments"))))
    assert (writer.line, writer.column) == (7, 1)
    assert [block.name for block in writer.walk()] == [
        "prometheus.remote_write",
        "endpoint",
        "basic_auth",
    ]


def test_components_are_labelled_top_level_blocks_by_id() -> None:
    ids = [component_id for component_id, _ in components(parse(CONFIG))]
    assert ids == ["prometheus.remote_write.central", "prometheus.scrape.pods"]


def test_duplicate_component_is_an_error_at_the_second_definition() -> None:
    text = 'loki.write "a" {\n}\nloki.write "a" {\n}\n'
    with pytest.raises(AlloySyntaxError) as caught:
        components(parse(text))
    assert (caught.value.line, caught.value.column) == (3, 1)
    assert "loki.write.a" in str(caught.value)


def test_references_finds_every_chain_inside_an_expression() -> None:
    expr = _value(
        'a = concat([prometheus.relabel.x.receiver], remote.kubernetes.secret.s.data["k"], sys.env("HOME"))'
    )
    assert list(references(expr)) == [
        ("concat",),
        ("prometheus", "relabel", "x", "receiver"),
        ("remote", "kubernetes", "secret", "s", "data"),
        ("sys", "env"),
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r'"plain"', "plain"),
        (r'"quote \" backslash \\ end"', 'quote " backslash \\ end'),
        (r'"\n\r\t\a\b\f\v"', "\n\r\t\a\b\f\v"),
        (r'"\x41\101\u00e9\U0001F600"', "AAé\U0001f600"),
        (r'"// not a comment /* nor this */"', "// not a comment /* nor this */"),
        ('"unicode ünïcode"', "unicode ünïcode"),
        ("`raw \\n stays\nand spans lines`", "raw \\n stays\nand spans lines"),
        ('""', ""),
    ],
)
def test_string_literals_decode_go_escapes(source: str, expected: str) -> None:
    assert _value(f"a = {source}") == Literal(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("42", Literal(42)),
        ("1.5", Literal(1.5)),
        ("2e3", Literal(2000.0)),
        ("true", Literal(True)),
        ("false", Literal(False)),
        ("null", Literal(None)),
        ("[]", Array(())),
        ("{}", Object(())),
        ("[1, \n 2,\n]", Array((Literal(1), Literal(2)))),
        ("-1", Unary("-", Literal(1))),
        ("!x", Unary("!", Identifier("x"))),
        ("1 + 2 * 3", Binary("+", Literal(1), Binary("*", Literal(2), Literal(3)))),
        ("(1 + 2) * 3", Binary("*", Binary("+", Literal(1), Literal(2)), Literal(3))),
        ("2 ^ 3 ^ 2", Binary("^", Literal(2), Binary("^", Literal(3), Literal(2)))),
        ("1 - 2 - 3", Binary("-", Binary("-", Literal(1), Literal(2)), Literal(3))),
        (
            "a || b && c == d",
            Binary(
                "||",
                Identifier("a"),
                Binary("&&", Identifier("b"), Binary("==", Identifier("c"), Identifier("d"))),
            ),
        ),
        ("a <= 1 != false", Binary("!=", Binary("<=", Identifier("a"), Literal(1)), Literal(False))),
        (
            'a.b[0]["c"]',
            Index(Index(Access(Identifier("a"), "b"), Literal(0)), Literal("c")),
        ),
        ('sys.env("X")', Call(Access(Identifier("sys"), "env"), (Literal("X"),))),
        ("f()", Call(Identifier("f"), ())),
        ("f(1,\n 2,\n)", Call(Identifier("f"), (Literal(1), Literal(2)))),
        ("f(x).y", Access(Call(Identifier("f"), (Identifier("x"),)), "y")),
    ],
)
def test_expressions(source: str, expected: object) -> None:
    assert _value(f"a = {source}") == expected


def test_comments_are_ignored_but_a_multiline_comment_ends_a_statement() -> None:
    document = parse("a = 1 /* one line */\nb = 2 /* two\nlines */ c = 3 // end")
    assert [item.name for item in document.body] == ["a", "b", "c"]


def test_attributes_and_blocks_can_share_a_line_with_closing_braces() -> None:
    (block,) = parse('x "y" { a = 1\n  inner { b = 2 } }').body
    assert isinstance(block, Block)
    assert block.attribute("a") == Literal(1)
    (inner,) = block.blocks("inner")
    assert inner.attribute("b") == Literal(2)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("a = ", 1, 5, "expected an expression"),
        ('a = "open', 1, 5, "unterminated string"),
        ('a = "two\nlines"', 1, 5, "unterminated string"),
        ("a = `open", 1, 5, "unterminated raw string"),
        ("a = 1 b = 2", 1, 7, "expected a newline"),
        ("x {\n  a = 1\n", 3, 1, "expected '}'"),
        ("x {\n}\n}", 3, 1, "expected an attribute or block name, found '}'"),
        ("a = {b = 1 c = 2}", 1, 12, "expected ',' or '}'"),
        ("a = {b = 1, b = 2}", 1, 13, "duplicate object key 'b'"),
        ("a = [1 2]", 1, 8, "expected ',' or ']'"),
        ("a = 1\na = 2", 2, 1, "set more than once"),
        ('a = "\\q"', 1, 6, "unknown escape"),
        ('a = "\\x4"', 1, 6, "invalid \\x escape"),
        ('a = "\\ud800"', 1, 6, "not a valid Unicode code point"),
        ('a = "\\400"', 1, 6, "octal escape out of range"),
        ('x "l" = 3', 1, 7, "expected '{' or '='"),
        ("x.y = 3", 1, 5, "expected '{' or '='"),
        ("a = 1 @", 1, 7, "unexpected character '@'"),
        ("a = 12abc", 1, 7, "in number"),
        ("a = 1e", 1, 7, "malformed number exponent"),
        ("/* never closed", 1, 1, "unterminated block comment"),
        ("\n\n  = 3", 3, 3, "expected an attribute or block name"),
        ("a = (1 + 2", 1, 11, "expected ')'"),
        ("a = x.", 1, 7, "expected a name after '.'"),
    ],
)
def test_syntax_errors_carry_line_and_column(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(AlloySyntaxError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.line, error.column) == (line, column), str(error)
    assert fragment in error.message
    assert str(error).startswith(f"line {line}, column {column}: ")


def test_empty_and_comment_only_documents_parse() -> None:
    assert parse("").body == ()
    assert parse("// nothing\n/* here */\n").body == ()
