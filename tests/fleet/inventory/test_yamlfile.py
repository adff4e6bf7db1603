"""The bounded YAML loader: plain data with lines, and a one-line refusal of anything unbounded
(issue 11, points 6 and 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from malformed import alias_bomb

from fleet.inventory.yamlfile import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_VALUES,
    DocumentError,
    decode,
    parse_text,
    read_text,
)


def refusal(text: str) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parse_text(text)
    return caught.value


def test_values_follow_yaml_1_2_and_quotes_make_strings() -> None:
    doc = parse_text(
        "a: true\nb: 12\nc: 1.5\nd: ~\ne: '7'\nf: yes\ng: 0x1f\nh: 2024-01-02\ni: 25%\nj:\nk: [1, x]\n"
    )
    assert doc.data == {
        "a": True,
        "b": 12,
        "c": 1.5,
        "d": None,
        "e": "7",
        "f": "yes",  # YAML 1.1's boolean is a string in 1.2
        "g": 31,
        "h": "2024-01-02",
        "i": "25%",
        "j": None,
        "k": [1, "x"],
    }


def test_every_key_and_item_has_its_line() -> None:
    doc = parse_text("spec:\n  list:\n    - a\n    - {b: 1}\n  other: x\n")
    assert doc.lines == {
        ("spec",): 1,
        ("spec", "list"): 2,
        ("spec", "list", 0): 3,
        ("spec", "list", 1): 4,
        ("spec", "list", 1, "b"): 4,
        ("spec", "other"): 5,
    }
    assert doc.line_of(("spec", "list", 1, "missing")) == 4


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (alias_bomb(), 1, "anchor &a0: anchors, aliases and merge keys are not allowed"),
        ("a: 1\nb: *x\n", 2, "alias *x"),
        ("a: 1\n<<: {b: 2}\n", 2, "merge key <<"),
        (
            "a: !!python/object/apply:os.system [id]\n",
            1,
            "tag tag:yaml.org,2002:python/object/apply:os.system",
        ),
        ("a: !!str 5\n", 1, "quote a value to make it a string"),
        ("a: " + "7" * 5000 + "\n", 1, "a number of 5000 characters"),
        ("a: 1\n---\nb: 2\n", 2, "a second YAML document"),
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first at line 1)"),
        ("? [a]\n: 1\n", 1, "a mapping key must be a plain value"),
        ("a: [1\n", 2, "invalid YAML"),
    ],
)
def test_unbounded_or_surprising_yaml_is_refused_at_its_line(text: str, line: int, words: str) -> None:
    error = refusal(text)
    assert (error.line, words in error.message) == (line, True), error.message


def test_nesting_is_counted_not_recursed() -> None:
    assert parse_text("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)).data is not None
    deep = "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert refusal(deep).message == f"nested deeper than {MAX_DEPTH} levels; flatten the file"
    assert "nested deeper" in refusal("a:\n" + "- " * 3000 + "x\n").message
    # libyaml's scanner reads flow brackets ahead, and stops at its own limit first
    assert "nesting depth" in refusal("a: " + "[" * 3000 + "]" * 3000).message


def test_the_number_of_values_is_bounded() -> None:
    error = refusal("[" + ", ".join(["1"] * (MAX_VALUES + 1)) + "]")
    assert error.message.startswith("more than 100,000 values")


def test_a_duplicate_key_never_echoes_its_huge_first_value() -> None:
    error = refusal("x: " + "y" * 500_000 + "\nx: 1\n")
    assert error.at("w.yaml") == "w.yaml:2: duplicate key 'x' (first at line 1); keep one"


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (
            "a: 1\n".encode("utf-16"),
            None,
            "is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8",
        ),
        (b"a: 1\nb: \x00\n", 2, "a NUL byte: this is a binary file, not YAML text"),
        (b"a: 1\nb: caf\xe9\n", 2, "not UTF-8 (byte 0xe9); save the file as UTF-8"),
        (
            b"a: 1\n" + b"#" * MAX_FILE_BYTES,
            None,
            "larger than 1024 KiB; an inventory file is a few kilobytes of YAML",
        ),
    ],
)
def test_only_utf8_text_of_bounded_size_is_read(
    tmp_path: Path, data: bytes, line: int | None, message: str
) -> None:
    path = tmp_path / "w.yaml"
    path.write_bytes(data)
    with pytest.raises(DocumentError) as caught:
        read_text(path)
    assert (caught.value.line, caught.value.message) == (line, message)


@pytest.mark.parametrize("size", [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, MAX_FILE_BYTES])
def test_a_file_up_to_the_limit_is_read_whole(tmp_path: Path, size: int) -> None:
    # Read in chunks: every size up to the limit, across chunk boundaries, comes back entire.
    text = ("a: 1\n" + "#" * size)[:size]
    path = tmp_path / "w.yaml"
    path.write_text(text, encoding="utf-8")
    assert read_text(path) == text
    path.write_text(text + "#" * (MAX_FILE_BYTES + 1 - size), encoding="utf-8")
    with pytest.raises(DocumentError, match="larger than 1024 KiB"):
        read_text(path)


def test_a_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert parse_text(read_text(path)).data == {"a": 1}


def test_a_directory_where_a_file_should_be_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as caught:
        read_text(tmp_path)
    assert (
        caught.value.at("w.yaml")
        == "w.yaml: cannot be read (is a directory); fix its permissions or remove it"
    )


def _files() -> list[Path]:
    from inventories import EXAMPLE_INVENTORY

    scaffold = Path(__file__).resolve().parents[3] / "fleet" / "scaffold"
    return [
        EXAMPLE_INVENTORY / "fleet.yaml",
        *sorted((EXAMPLE_INVENTORY / "workloads").glob("*.yaml")),
        *sorted(scaffold.glob("*.yaml")),
    ]


@pytest.mark.parametrize("path", _files(), ids=lambda path: path.name)
def test_the_shipped_files_read_as_ruamel_reads_them(path: Path) -> None:
    """ruamel.yaml's YAML 1.2 round trip (the loader before this one, and upgrade apply's editor)
    is the oracle: same data, and each top-level key on the line ruamel puts it."""
    from ruamel.yaml import YAML

    text = path.read_text(encoding="utf-8")
    reference = YAML(typ="rt").load(text)
    doc = parse_text(text)
    assert doc.data == reference
    for key in reference:
        assert doc.lines[(key,)] == reference.lc.key(key)[0] + 1


YAML_ALPHABET = "ab1.-_: \n\t[]{},#&*!|>'\"%@`?<=~\\\u00e9\x00\ufeff"
"""Every character YAML gives a meaning to, a few that it refuses, and plain ones."""


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=YAML_ALPHABET, max_size=200))
def test_any_text_parses_or_is_one_document_error(text: str) -> None:
    try:
        doc = parse_text(text)
    except DocumentError as error:
        assert "\n" not in error.message
    else:
        assert set(doc.lines) <= _paths(doc.data)


def _paths(data: object, prefix: tuple[str | int, ...] = ()) -> set[tuple[str | int, ...]]:
    found: set[tuple[str | int, ...]] = {prefix} if prefix else set()
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in children:
        found |= _paths(value, (*prefix, key))
    return found


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_read_as_text_or_are_one_document_error(data: bytes) -> None:
    try:
        text = decode(data)
    except DocumentError as error:
        assert "\n" not in error.message
    else:
        assert "\x00" not in text
