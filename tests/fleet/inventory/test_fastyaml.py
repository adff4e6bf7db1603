"""The fast reader reads what it accepts exactly as the full loader (ruamel.yaml) does.

The oracle is ruamel.yaml itself, through :func:`fleet.inventory.yamlfile.parse_text`: for any
text, the fast reader either declines it (``Unsupported``) or returns the same data.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inventories import copy_example

from fleet.errors import InvalidInventory
from fleet.inventory.fastyaml import Unsupported, fast_load
from fleet.inventory.loader import load_inventory
from fleet.inventory.yamlfile import DocumentError, parse_text

# Plain scalars where YAML 1.1 (libyaml's own resolver), YAML 1.2 and plain strings part ways.
# fmt: off
TRICKY = [
    "yes", "no", "on", "off", "y", "n", "Yes", "ON", "true", "False", "TRUE", "null", "Null", "~",
    "0", "-0", "+1", "12", "010", "08", "0o17", "0x1F", "0b101", "1_000", "1:20", "1:20:30",
    "1.5", "-1.5", "1.", ".5", "1e3", "1.5e3", "1E-3", ".inf", "-.inf", ".nan", ".NaN",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43", "<<", "=",
    "1.4.0", "6.30.1", "v1.2.3", "30d", "4h", "us-east-1", "123456789012", "1e", "0.0.0.0",
    "12:30", "-", "-a", "+", ".", "..", "a b", "c:d", "http://x/y", "0x", "0o", "1__0", "_1",
]
# fmt: on
SCALARS = st.one_of(
    st.sampled_from(TRICKY),
    st.from_regex(r"[-+.0-9a-zA-Z_:]{1,8}", fullmatch=True),
)


def oracle(text: str) -> Any:
    return parse_text(text).data


def same(left: Any, right: Any) -> bool:
    """Equal data, with NaN equal to itself and bool never equal to an int."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if type(left) is bool or type(right) is bool:
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return _kind(left) is _kind(right) and left == right  # type: ignore[no-any-return]


def _kind(value: Any) -> type:
    """The plain type behind ruamel's scalar subclasses (ScalarInt, ScalarFloat, ...)."""
    return next((t for t in (bool, int, float, str) if isinstance(value, t)), type(value))


def check(text: str) -> bool:
    """True when the fast reader accepted ``text`` (and then agreed with the oracle)."""
    try:
        fast = fast_load(text)
    except Unsupported:
        return False
    try:
        expected = oracle(text)
    except DocumentError:
        pytest.fail(f"the fast reader accepted what the full loader rejects:\n{text}")
    assert same(fast, expected), f"{text!r}: fast {fast!r}, full loader {expected!r}"
    return True


@pytest.mark.parametrize("scalar", TRICKY)
@pytest.mark.parametrize("layout", ["key: {}\n", "- {}\n", "{{a: [{}]}}\n", "{}: x\n"])
def test_every_tricky_scalar_is_read_as_yaml_1_2_reads_it_or_declined(scalar: str, layout: str) -> None:
    check(layout.format(scalar))


def test_the_common_forms_take_the_fast_path() -> None:
    text = 'a: 1\nb: 1.5\nc: "010"\nd: yes\ne: null\nf: true\ng: 30d\nh: [x, "y"]\ni: {j: ~}\nk:\n'
    assert check(text)
    assert fast_load(text)["d"] == "yes"  # YAML 1.2: a string, not YAML 1.1's True


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases: the full loader bounds them
        "a: !!str 1\n",  # explicit tags
        "<<: {a: 1}\n",  # merge keys
        "a: 1\na: 2\n",  # duplicate keys: the full loader names them
        "? [a]\n: 1\n",  # complex keys
        "%YAML 1.1\n---\na: yes\n",  # YAML 1.1 semantics
        "a: [1\n",  # invalid YAML: the full loader says where
        "a: 1\n---\nb: 2\n",  # two documents
        "a: 0x1F\n",
        "a: 2001-12-14\n",
    ],
)
def test_declines_what_it_does_not_read_like_the_full_loader(text: str) -> None:
    with pytest.raises(Unsupported):
        fast_load(text)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), children, max_size=3),
        ),
        max_leaves=8,
    ),
    st.booleans(),
)
def test_generated_documents_agree_with_the_full_loader(tree: Any, flow: bool) -> None:
    check(_write(tree, flow, 0))


def _write(tree: Any, flow: bool, indent: int) -> str:
    """YAML text for ``tree`` whose scalars are written plain, so that YAML's resolver reads them."""
    pad = "  " * indent
    if isinstance(tree, str):
        return f"{pad}{tree}\n"
    if flow or not tree:
        return f"{pad}{_flow(tree)}\n"
    lines = []
    for key, value in tree.items() if isinstance(tree, dict) else enumerate(tree):
        head = f"{pad}{key}:" if isinstance(tree, dict) else f"{pad}-"
        if isinstance(value, str) or not value:
            lines.append(f"{head} {_flow(value)}\n")
        else:
            lines.append(f"{head}\n{_write(value, flow, indent + 1)}")
    return "".join(lines)


def _flow(tree: Any) -> str:
    if isinstance(tree, str):
        return tree
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in tree.items()) + "}"
    return "[" + ", ".join(_flow(v) for v in tree) + "]"


def test_inventory_files_with_problems_keep_their_lines(tmp_path: Path) -> None:
    root = tmp_path / "inv"
    copy_example(root)
    path = root / "workloads" / "payments-prod.yaml"
    # A valid file the fast reader declines (an "&" anywhere), and an error in another one.
    path.write_text("# the R&D cluster\n" + path.read_text())
    other = root / "workloads" / "search-staging.yaml"
    lines = other.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if "region:" in line)
    other.write_text(other.read_text().replace("region:", "regoin:"))
    with pytest.raises(InvalidInventory) as caught:
        load_inventory(root)
    where = f"workloads/search-staging.yaml:{number}: spec.regoin: unknown key"
    assert any(problem.startswith(where) for problem in caught.value.problems), caught.value.problems
    assert all("payments-prod" not in problem for problem in caught.value.problems)
    other.write_text("\n".join(lines) + "\n")
    inventory = load_inventory(root)
    assert inventory.workload("payments-prod").spec.environment == "production"


def test_yaml_1_1_booleans_stay_strings_in_labels(tmp_path: Path) -> None:
    root = tmp_path / "inv"
    copy_example(root)
    path = root / "workloads" / "payments-prod.yaml"
    text = path.read_text()
    assert "labels: {team: payments}" in text
    path.write_text(text.replace("labels: {team: payments}", "labels: {team: payments, paged: yes}"))
    assert load_inventory(root).workload("payments-prod").spec.labels["paged"] == "yes"
