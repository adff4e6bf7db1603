"""The malformed-input corpus: every kind of bad input that once crashed fleet, hung it, printed a
traceback or a flood, or slipped through as valid (issue 11, points 6-11), generated on demand.

Each :class:`Case` breaks a copy of the example inventory (or the environment, or the command
line) in one way. The contract every case is held to (``tests/fleet/inventory/
test_malformed_corpus.py``): exit 2, one line of output naming the file or setting and the fix,
nothing written anywhere in the inventory.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

WORKLOAD = "workloads/payments-prod.yaml"
"""The example workload the file-level cases break (or replace)."""


@dataclass(frozen=True)
class Case:
    """One malformed input: how to make it, what to run, what the one line must say."""

    name: str
    finding: int
    """The point of issue 11 it reproduces."""
    make: Callable[[Path], None]
    expect: str
    """A part of the one output line (the file, the setting or the fix)."""
    args: tuple[str, ...] = ("validate",)
    env: dict[str, str] = field(default_factory=dict)
    lines: int = 1
    """Lines of output allowed: one, but for a file with thousands of problems (capped)."""

    def argv(self, root: Path) -> list[str]:
        """The command line for the inventory at ``root`` (``{outside}``: a path beside it)."""
        return ["-i", str(root), *(arg.format(outside=root.parent) for arg in self.args)]


def _write(relative: str, data: str | bytes) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / relative
        if path.is_symlink() or path.is_file():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")

    return make


def _edit(relative: str, old: str, new: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return make


def _append_to(relative: str, text: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / relative
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")

    return make


def _replace_with(relative: str, make_entry: Callable[[Path, Path], None]) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        path = root / relative
        path.unlink()
        make_entry(root, path)

    return make


def _nothing(root: Path) -> None:
    del root


def alias_bomb(levels: int = 10, fanout: int = 10) -> str:
    """A "billion laughs" document: ``fanout ** levels`` strings from a few hundred bytes."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * fanout)}]")
    return "\n".join(lines) + "\n"


def _workload_head() -> str:
    return "apiVersion: fleet/v1\nkind: Workload\nname: payments-prod\n"


BIG = "9" * 400
"""A 400-digit number: as a duration it was infinity."""


def _cases() -> list[Case]:
    head = _workload_head()
    cases = [
        # 6: aliases expand without bound
        Case("alias-bomb-in-a-workload", 6, _write(WORKLOAD, head + alias_bomb()), "anchors, aliases"),
        Case("alias-bomb-in-fleet-yaml", 6, _append_to("fleet.yaml", alias_bomb()), "fleet.yaml:"),
        Case("alias-to-a-value", 6, _append_to(WORKLOAD, "x: &v 1\ny: *v\n"), "write the value out"),
        # 7: tracebacks from the parser and the reader
        Case("not-utf-8", 7, _write(WORKLOAD, b"name: caf\xe9\n"), "not UTF-8"),
        Case("utf-16-le", 7, _write(WORKLOAD, (head + "spec: {}\n").encode("utf-16")), "UTF-16"),
        Case("utf-16-be", 7, _write(WORKLOAD, b"\xfe\xff" + head.encode("utf-16-be")), "UTF-16"),
        Case("binary", 7, _write(WORKLOAD, b"\x1f\x8b\x08\x00" + bytes(range(256))), "binary"),
        Case("random-bytes", 7, _write(WORKLOAD, bytes((i * 7919) % 251 + 1 for i in range(4096))), WORKLOAD),
        Case("flow-nesting-3000", 7, _write(WORKLOAD, "a: " + "[" * 3000 + "]" * 3000 + "\n"), "nest"),
        Case(
            "block-nesting-3000",
            7,
            _write(WORKLOAD, "a:\n" + "- " * 3000 + "x\n"),  # block lists in block lists
            "nested deeper",
        ),
        Case("merge-key", 7, _append_to(WORKLOAD, "<<: {environment: staging}\n"), "merge key"),
        Case(
            "merge-key-with-alias", 7, _append_to(WORKLOAD, "base: &b {x: 1}\nother:\n  <<: *b\n"), "anchor"
        ),
        Case(
            "python-object-tag",
            7,
            _append_to(WORKLOAD, "x: !!python/object:os.system [id]\n"),
            "tags are not",
        ),
        Case(
            "python-apply-tag", 7, _append_to(WORKLOAD, "x: !!python/object/apply:os.system [id]\n"), "tag "
        ),
        Case("local-tag", 7, _append_to(WORKLOAD, "x: !secret value\n"), "tags are not"),
        Case(
            "5000-digit-integer",
            7,
            _edit(WORKLOAD, "replicas: 3", "replicas: " + "7" * 5000),
            "number of 5000",
        ),
        Case("5000-digit-float", 7, _append_to(WORKLOAD, "x: 1." + "5" * 5000 + "\n"), "number of"),
        Case("second-document", 7, _append_to(WORKLOAD, "---\nname: other\n"), "second YAML document"),
        Case("file-over-a-megabyte", 7, _append_to(WORKLOAD, "# " + "x" * (1024 * 1024) + "\n"), "KiB"),
        Case("fleet-yaml-a-directory", 7, _replace_with("fleet.yaml", lambda _r, p: p.mkdir()), "directory"),
        Case("workloads-a-regular-file", 7, _workloads_as_file, "workloads: not a directory"),
        Case("syntax-error", 7, _append_to(WORKLOAD, "x: [1, 2\n"), "invalid YAML"),
        Case("complex-key", 7, _append_to(WORKLOAD, "? [a, b]\n: c\n"), "mapping key"),
        # 8: a workload silently leaves the inventory
        Case("directory-named-yaml", 8, _replace_with(WORKLOAD, lambda _r, p: p.mkdir()), "a directory"),
        Case("upper-case-suffix", 8, _rename(WORKLOAD, "workloads/payments-prod.YAML"), "rename it to"),
        Case("yml-suffix", 8, _rename(WORKLOAD, "workloads/payments-prod.yml"), "rename it to"),
        Case(
            "dangling-symlink",
            8,
            _replace_with(WORKLOAD, lambda _r, p: p.symlink_to("gone.yaml")),
            "dangling",
        ),
        Case("symlink-outside", 8, _symlink_outside, "outside the inventory"),
        Case("fifo", 8, _replace_with(WORKLOAD, lambda _r, p: os.mkfifo(p)), "not a regular file"),
        Case("stray-file", 8, _write("workloads/README.md", "notes\n"), "not a workload file"),
        # 9: loose types and unbounded durations
        Case("wave-size-true", 9, _edit("fleet.yaml", 'wave_size: "50%"', "wave_size: true"), "wave_size"),
        Case("replicas-true", 9, _edit(WORKLOAD, "replicas: 3", "replicas: true"), "expected an integer"),
        Case(
            "system-logs-yes", 9, _edit(WORKLOAD, "system_logs: true", 'system_logs: "yes"'), "true or false"
        ),
        Case("retention-400-digits", 9, _edit(WORKLOAD, "retention: 60d", f"retention: {BIG}d"), "too long"),
        Case(
            "bake-time-400-digits",
            9,
            _edit("fleet.yaml", 'bake_time: "0s"', f"bake_time: {BIG}s"),
            "too long",
        ),
        Case("window-400-digits", 9, _edit("fleet.yaml", 'window: "4h"', f"window: {BIG}h"), "too long"),
        Case(
            "health-timeout-400-digits",
            9,
            _append_to("fleet.yaml", f"  health: {{timeout: {BIG}m}}\n"),
            "too long",
        ),
        Case(
            "bake-time-flag-400-digits",
            9,
            _nothing,
            "--bake-time",
            args=("rollout", "--all", "--dry-run", "--yes", "--bake-time", f"{BIG}s"),
        ),
        Case(
            "bake-time-flag-over-a-day",
            9,
            _nothing,
            "at most 24h",
            args=("rollout", "--all", "--dry-run", "--yes", "--bake-time", "25h"),
        ),
        # 10: settings, the journal, floods
        Case("lock-ttl-not-a-number", 10, _nothing, "FLEET_LOCK_TTL", env={"FLEET_LOCK_TTL": "abc"}),
        Case("workers-negative", 10, _nothing, "FLEET_WORKERS", env={"FLEET_WORKERS": "-1"}),
        Case("engine-unknown", 10, _nothing, "FLEET_ENGINE", env={"FLEET_ENGINE": "bogus"}),
        Case(
            "database-url-not-a-url",
            10,
            _nothing,
            "FLEET_DATABASE_URL='garbage'",
            args=("status",),
            env={"FLEET_DATABASE_URL": "garbage"},
        ),
        *(
            # Beyond any machine: it overflowed mid-rollout, after the rollout was recorded.
            Case(
                f"{variable.lower().replace('_', '-')}-huge",
                10,
                _nothing,
                f"{variable}='{value}': must be at most",
                args=("rollout", "--all", "--dry-run", "--yes"),
                env={variable: value},
            )
            for variable, value in (("FLEET_WORKERS", "9" * 23), ("FLEET_LOCK_TTL", "9999999999"))
        ),
        Case(
            "corrupt-journal",
            10,
            _write(".fleet/fleet.db", b"not a database at all" * 100),
            "move the file aside",
            args=("status",),
        ),
        Case(
            "huge-duplicate-key",
            10,
            _append_to(WORKLOAD, "x: " + "y" * 900_000 + "\nx: 1\n"),
            "duplicate key",
        ),
        Case(
            "huge-invalid-value",
            10,
            _edit(WORKLOAD, "region: eu-west-1", "region: " + "Q" * 900_000),
            "characters",
        ),
        Case(
            "ten-thousand-unknown-keys",
            10,
            _append_to(WORKLOAD, "".join(f"k{i}: 1\n" for i in range(10_000))),
            "unknown key",
            lines=102,
        ),
        # 11: an invalid request must not create the journal
        Case(
            "rollout-unknown-name",
            11,
            _nothing,
            "nonexistent",
            args=("rollout", "nonexistent", "--dry-run", "--yes"),
        ),
        Case(
            "rollout-bad-selector",
            11,
            _nothing,
            "selector",
            args=("rollout", "--selector", "=", "--dry-run", "--yes"),
        ),
        Case(
            "rollout-all-and-selector",
            11,
            _nothing,
            "--all or --selector",
            args=("rollout", "--all", "-l", "ring=canary", "--dry-run", "--yes"),
        ),
        Case(
            "rollout-bad-wave-size",
            11,
            _nothing,
            "--wave-size",
            args=("rollout", "--all", "--wave-size", "0%", "--dry-run", "--yes"),
        ),
        *(
            Case(
                f"workload-add-{kind}",
                11,
                _write("../new.yaml", data),
                words,
                args=("workload", "add", "{outside}/new.yaml"),
            )
            for kind, data, words in (
                ("alias-bomb", alias_bomb(), "anchor &a0"),
                ("utf-16", "a: 1\n".encode("utf-16"), "UTF-16"),
                (
                    "unquoted-account",
                    head.replace("payments-prod", "new")
                    + "spec: {cloud: aws, region: us-east-1, account_id: 12}\n",
                    "spec.account_id: expected a string, got 12; quote the value",
                ),
            )
        ),
        *(
            Case(
                f"rollout-{verb}-unknown-id",
                11,
                _nothing,
                "no rollout 'r-bogus'",
                args=("rollout", verb, "r-bogus"),
            )
            for verb in ("watch", "resume", "cancel")
        ),
        Case(
            "logs-unknown-rollout",
            11,
            _nothing,
            "no rollout 'r-bogus'",
            args=("logs", "r-bogus", "payments-prod"),
        ),
    ]
    return cases


def _workloads_as_file(root: Path) -> None:
    directory = root / "workloads"
    for entry in directory.iterdir():
        entry.unlink()
    directory.rmdir()
    directory.write_text("payments-prod.yaml\n", encoding="utf-8")


def _rename(relative: str, new: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        (root / relative).rename(root / new)

    return make


def _symlink_outside(root: Path) -> None:
    outside = root.parent / "elsewhere.yaml"
    (root / WORKLOAD).rename(outside)
    (root / WORKLOAD).symlink_to(outside)


CASES: tuple[Case, ...] = tuple(_cases())
"""The corpus, by name (unique)."""


MAX_LINE = 600
"""The longest line a rejection may print (the CLI cuts at 500, plus its own words)."""


def snapshot(root: Path) -> dict[str, object]:
    """Everything under ``root``: each entry's kind and content (never read from a FIFO)."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found[str(path.relative_to(root))] = ("link", os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            found[str(path.relative_to(root))] = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode))
        else:
            found[str(path.relative_to(root))] = ("other", stat.S_IFMT(info.st_mode))
    return found


def verdict(case: Case, code: int, output: str, before: dict[str, object], root: Path) -> str | None:
    """Why the run of ``case`` broke the contract (exit 2, one line naming the problem, no
    traceback, nothing written), or None when it kept it."""
    lines = output.splitlines()
    if code != 2:
        return f"exit {code}"
    if not 1 <= len(lines) <= case.lines:
        return f"{len(lines)} lines"
    if not lines[-1].startswith("error: "):
        return f"last line {lines[-1][:100]!r}"
    if case.expect not in output:
        return f"{case.expect!r} not said"
    if "Traceback" in output:
        return "a traceback"
    if any(len(line) > MAX_LINE for line in lines):
        return f"a line of {max(map(len, lines))} characters"
    if snapshot(root) != before:
        return "the inventory changed"
    return None


def edit(relative: str, old: str, new: str) -> Callable[[Path], None]:
    """A case's ``make``: replace ``old`` by ``new`` (once) in the inventory file ``relative``."""
    return _edit(relative, old, new)


def refused(case: Case, root: Path) -> str:
    """Break the inventory at ``root`` as ``case`` says, run ``fleet`` on it through the Typer app
    (the CLI's error boundary) and hold it to the contract (exit 2, one line naming the problem,
    nothing written); returns that line."""
    from typer.testing import CliRunner

    from fleet.cli.main import app

    case.make(root)
    before = snapshot(root)
    result = CliRunner().invoke(app, case.argv(root), env=case.env)
    problem = verdict(case, result.exit_code, result.output, before, root)
    assert problem is None, f"{case.name}: {problem}\n{result.output[:2000]}"
    return result.output.strip()
