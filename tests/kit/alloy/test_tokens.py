"""The Alloy tokenizer on its own: kinds, values, positions and significant newlines."""

from __future__ import annotations

import pytest

from kit.alloy.tokens import EOF, IDENT, NEWLINE, NUMBER, PUNCT, STRING, AlloySyntaxError, tokenize


def kinds_and_values(text: str) -> list[tuple[str, str]]:
    return [(token.kind, token.value) for token in tokenize(text)]


def test_a_block_header_and_an_attribute() -> None:
    assert kinds_and_values('a.b "x" {\n  n = 1.5e3 // note\n}') == [
        (IDENT, "a"),
        (PUNCT, "."),
        (IDENT, "b"),
        (STRING, "x"),
        (PUNCT, "{"),
        (NEWLINE, "\n"),
        (IDENT, "n"),
        (PUNCT, "="),
        (NUMBER, "1.5e3"),
        (NEWLINE, "\n"),
        (PUNCT, "}"),
        (EOF, ""),
    ]


def test_two_character_operators_and_escapes() -> None:
    assert kinds_and_values('a >= "\\u00e9\\t" && `raw\\n`') == [
        (IDENT, "a"),
        (PUNCT, ">="),
        (STRING, "é\t"),
        (PUNCT, "&&"),
        (STRING, "raw\\n"),
        (EOF, ""),
    ]


def test_a_block_comment_across_lines_is_a_newline_and_on_one_line_is_nothing() -> None:
    assert kinds_and_values("a /* x */ b") == [(IDENT, "a"), (IDENT, "b"), (EOF, "")]
    assert kinds_and_values("a /* x\n */ b") == [(IDENT, "a"), (NEWLINE, "\n"), (IDENT, "b"), (EOF, "")]


def test_positions_are_one_based_lines_and_columns() -> None:
    tokens = tokenize('x = 1\n  y = "z"')
    assert [(t.value, t.line, t.column) for t in tokens if t.kind != NEWLINE] == [
        ("x", 1, 1),
        ("=", 1, 3),
        ("1", 1, 5),
        ("y", 2, 3),
        ("=", 2, 5),
        ("z", 2, 7),
        ("", 2, 10),
    ]


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        ('a = "open', "unterminated string literal", (1, 5)),
        ("a = `open", "unterminated raw string", (1, 5)),
        ("a /* open", "unterminated block comment", (1, 3)),
        ('a = "\\q"', "unknown escape sequence \\q", (1, 6)),
        ("a = 1x", "unexpected character 'x' in number", (1, 6)),
        ("a = #", "unexpected character '#'", (1, 5)),
    ],
)
def test_errors_carry_their_position(text: str, message: str, where: tuple[int, int]) -> None:
    with pytest.raises(AlloySyntaxError) as caught:
        tokenize(text)
    assert caught.value.message == message
    assert (caught.value.line, caught.value.column) == where
