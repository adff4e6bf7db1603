"""Prometheus's own ``promtool`` (Debian's ``prometheus`` package) as the oracle for rule files and
PromQL: ``check rules`` parses every expression and template, ``test rules`` evaluates alerts over
given series. PromQL that is not a rule (a dashboard's queries) is checked by wrapping each query
in a recording rule."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

needs_promtool = pytest.mark.skipif(
    not Path(PROMTOOL).exists(),
    reason="promtool is not installed (apt-get install prometheus; see .ci/apt-packages.txt)",
)


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool; the completed process (its output in ``stdout``)."""
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def check_rules(*files: Path) -> None:
    """Fail the test unless ``promtool check rules`` accepts every file."""
    done = promtool("check", "rules", *map(str, files))
    assert done.returncode == 0, done.stdout + done.stderr


def check_queries(queries: Sequence[str], tmp_path: Path) -> None:
    """Fail the test unless promtool parses every PromQL query (each wrapped in a recording rule)."""
    rules = [{"record": f"query:{index}", "expr": query} for index, query in enumerate(queries)]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    check_rules(path)


def run_rule_tests(
    rule_file: Path, tests: Sequence[Mapping[str, Any]], tmp_path: Path, *, evaluation_interval: str = "1m"
) -> None:
    """Fail the test unless ``promtool test rules`` passes ``tests`` (promtool's test format),
    evaluating every group of ``rule_file`` (see :func:`for_unit_tests`) each ``evaluation_interval``."""
    path = tmp_path / f"{rule_file.stem}.{evaluation_interval}.test.yaml"
    document = {
        "rule_files": [str(rule_file)],
        "evaluation_interval": evaluation_interval,
        "tests": list(tests),
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    done = promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def for_unit_tests(rule_text: str, *, annotations: bool = False) -> str:
    """A rule file's text for ``test rules``: without the groups' own ``interval`` (so a test's
    ``evaluation_interval`` applies) and, unless ``annotations``, without annotations (promtool
    compares them exactly; their templates are checked by ``check rules``)."""
    data = yaml.safe_load(rule_text)
    for group in data["groups"]:
        group.pop("interval", None)
        for rule in group["rules"] if not annotations else ():
            rule.pop("annotations", None)
    return yaml.safe_dump(data, sort_keys=False)
