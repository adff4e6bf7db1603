"""The tokenizer of the Alloy configuration syntax, for :mod:`kit.alloy.parser`.

Tokens are identifiers, strings (Go escapes; raw strings in backticks), numbers, punctuation,
significant newlines and the end of the text; ``//`` and ``/* */`` comments are skipped (a block
comment that spans a line break counts as a newline, as in Alloy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

__all__ = ["EOF", "IDENT", "NEWLINE", "NUMBER", "PUNCT", "STRING", "AlloySyntaxError", "Token", "tokenize"]


class AlloySyntaxError(ValueError):
    """The text is not valid Alloy syntax; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.message = message
        self.line = line
        self.column = column


IDENT, STRING, NUMBER, PUNCT, NEWLINE, EOF = "ident", "string", "number", "punct", "nl", "eof"

_TWO_CHAR = {"==", "!=", "<=", ">=", "&&", "||"}
_ONE_CHAR = set("{}[](),.=<>+-*/%^!")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


@dataclass(frozen=True)
class Token:
    kind: str
    value: str
    line: int
    column: int


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_ident_char(ch: str) -> bool:
    return _is_ident_start(ch) or ch.isdigit()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.column = 1

    def error(self, message: str, line: int | None = None, column: int | None = None) -> NoReturn:
        raise AlloySyntaxError(message, line or self.line, column or self.column)

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def advance(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
            self.column = 1
        else:
            self.column += 1
        return ch

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            token = self.next_token()
            out.append(token)
            if token.kind == EOF:
                return out

    def next_token(self) -> Token:
        while True:
            ch = self.peek()
            line, column = self.line, self.column
            if ch == "":
                return Token(EOF, "", line, column)
            if ch in " \t\r\ufeff":
                self.advance()
            elif ch == "\n":
                self.advance()
                return Token(NEWLINE, "\n", line, column)
            elif ch == "/" and self.peek(1) == "/":
                while self.peek() not in ("", "\n"):
                    self.advance()
            elif ch == "/" and self.peek(1) == "*":
                if self.block_comment():
                    return Token(NEWLINE, "\n", line, column)
            elif ch == '"':
                return Token(STRING, self.string(), line, column)
            elif ch == "`":
                return Token(STRING, self.raw_string(), line, column)
            elif ch.isdigit():
                return Token(NUMBER, self.number(), line, column)
            elif _is_ident_start(ch):
                start = self.pos
                while _is_ident_char(self.peek()):
                    self.advance()
                return Token(IDENT, self.text[start : self.pos], line, column)
            elif ch + self.peek(1) in _TWO_CHAR:
                self.advance()
                self.advance()
                return Token(PUNCT, ch + self.text[self.pos - 1], line, column)
            elif ch in _ONE_CHAR:
                self.advance()
                return Token(PUNCT, ch, line, column)
            else:
                self.error(f"unexpected character {ch!r}")

    def block_comment(self) -> bool:
        """Skip a ``/* */`` comment; True when it spanned a line break (which ends a statement)."""
        line, column = self.line, self.column
        self.advance()
        self.advance()
        spans_lines = False
        while not (self.peek() == "*" and self.peek(1) == "/"):
            if self.peek() == "":
                self.error("unterminated block comment", line, column)
            spans_lines |= self.advance() == "\n"
        self.advance()
        self.advance()
        return spans_lines

    def number(self) -> str:
        start = self.pos
        while self.peek().isdigit():
            self.advance()
        if self.peek() == "." and self.peek(1).isdigit():
            self.advance()
            while self.peek().isdigit():
                self.advance()
        if self.peek() in ("e", "E"):
            self.advance()
            if self.peek() in ("+", "-"):
                self.advance()
            if not self.peek().isdigit():
                self.error("malformed number exponent")
            while self.peek().isdigit():
                self.advance()
        if _is_ident_char(self.peek()):
            self.error(f"unexpected character {self.peek()!r} in number")
        return self.text[start : self.pos]

    def raw_string(self) -> str:
        line, column = self.line, self.column
        self.advance()
        start = self.pos
        while self.peek() != "`":
            if self.peek() == "":
                self.error("unterminated raw string", line, column)
            self.advance()
        value = self.text[start : self.pos]
        self.advance()
        return value

    def string(self) -> str:
        line, column = self.line, self.column
        self.advance()
        parts: list[str] = []
        while True:
            ch = self.peek()
            if ch == "" or ch == "\n":
                self.error("unterminated string literal", line, column)
            self.advance()
            if ch == '"':
                return "".join(parts)
            if ch != "\\":
                parts.append(ch)
                continue
            escape_line, escape_column = self.line, self.column - 1
            kind = self.peek()
            if kind in _SIMPLE_ESCAPES:
                self.advance()
                parts.append(_SIMPLE_ESCAPES[kind])
            elif kind in _HEX_ESCAPES:
                self.advance()
                digits = "".join(self.advance() for _ in range(_HEX_ESCAPES[kind]) if self.peek())
                if len(digits) != _HEX_ESCAPES[kind] or any(
                    d not in "0123456789abcdefABCDEF" for d in digits
                ):
                    self.error(f"invalid \\{kind} escape", escape_line, escape_column)
                parts.append(self._code_point(int(digits, 16), escape_line, escape_column))
            elif kind in "01234567" and kind != "":
                digits = "".join(self.advance() for _ in range(3) if self.peek())
                if len(digits) != 3 or any(d not in "01234567" for d in digits):
                    self.error("invalid octal escape", escape_line, escape_column)
                value = int(digits, 8)
                if value > 0xFF:
                    self.error("octal escape out of range", escape_line, escape_column)
                parts.append(chr(value))
            else:
                self.error(f"unknown escape sequence \\{kind}", escape_line, escape_column)

    def _code_point(self, value: int, line: int, column: int) -> str:
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            self.error("escape is not a valid Unicode code point", line, column)
        return chr(value)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with one ``EOF`` token; raises :class:`AlloySyntaxError`."""
    return _Lexer(text).tokens()
