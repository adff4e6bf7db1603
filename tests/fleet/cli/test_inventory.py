"""The inventory commands as a user runs them: init, validate, workload add/list, schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inventories import EXAMPLE_INVENTORY as EXAMPLE
from inventories import copy_example
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.inventory.yamlfile import MAX_FILE_BYTES

runner = CliRunner()


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    target = tmp_path / "inv"
    copy_example(target)
    return target


def fleet(*args: str | Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args], env=env)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_validate_prints_a_one_line_summary(inv: Path) -> None:
    result = fleet("-i", inv, "validate")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "ok: fleet acme: control room on aws (us-east-1), 3 workloads (2 aws, 1 azure)\n"
    )


def test_inventory_from_the_environment(inv: Path) -> None:
    result = fleet("validate", env={"FLEET_INVENTORY": str(inv)})
    assert result.exit_code == 0, result.output


def test_flag_overrides_the_environment(inv: Path, tmp_path: Path) -> None:
    result = fleet("-i", inv, "validate", env={"FLEET_INVENTORY": str(tmp_path / "nowhere")})
    assert result.exit_code == 0, result.output


def test_invalid_inventory_exits_2_with_one_line_per_problem(inv: Path) -> None:
    path = inv / "workloads/payments-prod.yaml"
    path.write_text(path.read_text().replace("region: eu-west-1", "region: EU").replace("labels:", "lables:"))
    result = fleet("-i", inv, "validate")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("workloads/payments-prod.yaml:6: spec.region: 'EU' is not a cloud region")
    assert lines[1].startswith("workloads/payments-prod.yaml:9: spec.lables: unknown key")
    assert lines[-1] == "error: 2 problems in the inventory"
    assert "Traceback" not in result.output


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_validate_for_scripts_prints_every_problem_as_a_document_too(inv: Path, output: str) -> None:
    # A CI linter reading -o json got {"ok": true, ...} or nothing at all.
    path = inv / "workloads/payments-prod.yaml"
    path.write_text(path.read_text().replace("region: eu-west-1", "region: EU").replace("labels:", "lables:"))
    result = fleet("-i", inv, "validate", "-o", output)
    assert result.exit_code == 2
    document = json.loads(result.stdout) if output == "json" else yaml.safe_load(result.stdout)
    assert document["ok"] is False
    assert document["error"] == "2 problems in the inventory"
    assert [problem[:45] for problem in document["problems"]] == [
        "workloads/payments-prod.yaml:6: spec.region: ",
        "workloads/payments-prod.yaml:9: spec.lables: ",
    ]
    assert result.stderr.splitlines()[-1] == "error: 2 problems in the inventory"


def test_validate_json_of_an_inventory_that_cannot_be_read_is_a_document_too(tmp_path: Path) -> None:
    result = fleet("-i", tmp_path, "validate", "-o", "json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False and "no fleet.yaml here" in document["problems"][0]


def test_validate_refuses_what_mimir_and_alloy_would_refuse(inv: Path) -> None:
    path = inv / "workloads/payments-prod.yaml"
    text = path.read_text().replace("retention: 60d", "retention: 1.5d")
    path.write_text(text.replace('"payments_.*"', '"(?!go_).*"'))
    result = fleet("-i", inv, "validate")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("workloads/payments-prod.yaml:11: spec.mimir.retention: '1.5d'")
    assert lines[0].endswith("write '1d12h'")
    assert lines[1].startswith("workloads/payments-prod.yaml:13: spec.central.metrics[2]: '(?!go_).*'")
    assert lines[-1] == "error: 2 problems in the inventory"
    assert "re2.cc" not in result.output  # the engine's own error log stays quiet


def test_debug_shows_the_traceback(inv: Path) -> None:
    (inv / "fleet.yaml").write_text("apiVersion: fleet/v1\n")
    result = fleet("-i", inv, "--debug", "validate")
    assert result.exit_code != 0
    assert result.exception is not None and not isinstance(result.exception, SystemExit)


def test_init_creates_an_inventory_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = fleet("init", target)
    assert result.exit_code == 0, result.output
    assert (target / "fleet.yaml").read_text().startswith("# fleet.yaml")
    assert "1 workload (1 aws)" in fleet("-i", target, "validate").stdout
    again = fleet("init", target)
    assert again.exit_code == 2
    assert "already exists" in again.stderr


def test_workload_add_onboards_and_prints_the_rollout_command(inv: Path, tmp_path: Path) -> None:
    source = tmp_path / "billing-dev.yaml"
    source.write_text(
        (EXAMPLE / "workloads/search-staging.yaml").read_text().replace("search-staging", "billing-dev")
    )
    result = fleet("-i", inv, "workload", "add", source)
    assert result.exit_code == 0, result.output
    assert f"fleet -i {inv} rollout billing-dev" in result.stdout
    assert (inv / "workloads/billing-dev.yaml").read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    ("name_in_file", "file_name", "mutate", "expect"),
    [
        ("search-staging", "search-staging.yaml", None, "already exists"),
        ("watch", "watch.yaml", None, "reserved"),
        ("billing-dev", "billing-dev.yaml", ("cloud: aws", "cloud: gcp"), "spec.cloud"),
        ("billing-dev", "billing-dev.yaml", ("labels:", "labels: [\n"), "invalid YAML"),
        ("billing-dev", "billing-dev.yaml", ("environment: staging", "env: staging"), "unknown key"),
    ],
)
def test_failed_add_leaves_the_inventory_byte_for_byte_unchanged(
    inv: Path,
    tmp_path: Path,
    name_in_file: str,
    file_name: str,
    mutate: tuple[str, str] | None,
    expect: str,
) -> None:
    text = (EXAMPLE / "workloads/search-staging.yaml").read_text().replace("search-staging", name_in_file)
    if mutate:
        text = text.replace(*mutate)
    source = tmp_path / file_name
    source.write_text(text)
    before = snapshot(inv)
    result = fleet("-i", inv, "workload", "add", source)
    assert result.exit_code == 2, result.output
    assert expect in result.stderr
    assert snapshot(inv) == before


def test_workload_add_reads_stdin(inv: Path) -> None:
    text = (EXAMPLE / "workloads/search-staging.yaml").read_text().replace("search-staging", "billing-dev")
    result = runner.invoke(app, ["-i", str(inv), "workload", "add", "-"], input=text)
    assert result.exit_code == 0, result.output
    assert (inv / "workloads/billing-dev.yaml").read_text() == text


def test_workload_add_refuses_stdin_past_the_file_limit(inv: Path) -> None:
    """A valid workload padded past the loader's 1 MiB: accepting it would leave a file no later
    load reads (the inventory broken); it is refused in one line, and nothing is written."""
    text = (EXAMPLE / "workloads/search-staging.yaml").read_text().replace("search-staging", "billing-dev")
    padded = text + ("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    before = snapshot(inv)
    result = runner.invoke(app, ["-i", str(inv), "workload", "add", "-"], input=padded)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("error: <stdin>: larger than 1024 KiB")
    assert snapshot(inv) == before


def test_workload_add_stops_reading_a_long_stdin(inv: Path) -> None:
    """`yes | fleet workload add -` stops reading after the first MiB and exits (2, one line):
    the writer's pipe breaks long before 64 MiB are through."""
    before = snapshot(inv)
    command = [str(Path(sys.executable).with_name("fleet")), "-i", str(inv), "workload", "add", "-"]
    chunk = b"# endless\n" * 10_000
    written = 0
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdin is not None
        try:
            while written < 64 * MAX_FILE_BYTES:
                child.stdin.write(chunk)
                written += len(chunk)
            child.stdin.close()
        except BrokenPipeError:
            pass
        _, stderr = child.communicate(timeout=60)
    assert written < 64 * MAX_FILE_BYTES  # fleet stopped reading
    assert child.returncode == 2, stderr
    [line] = stderr.decode().splitlines()
    assert line.startswith("error: <stdin>: larger than 1024 KiB")
    assert snapshot(inv) == before


def test_workload_list_json_parses_back(inv: Path) -> None:
    result = fleet("-i", inv, "workload", "list", "--output", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["analytics-prod", "payments-prod", "search-staging"]
    analytics = rows[0]
    assert analytics["cloud"] == "azure" and analytics["region"] == "eastus"
    assert analytics["versions"]["loki"] == "6.30.1" and analytics["pinned"] == ["loki"]
    assert rows[2]["labels"] == {"ring": "canary", "team": "search"}


def test_workload_list_table(inv: Path) -> None:
    result = fleet("-i", inv, "workload", "list")
    assert result.exit_code == 0, result.output
    header, *rows, legend = result.stdout.strip().splitlines()
    assert header.split()[:4] == ["NAME", "CLOUD", "REGION", "ENVIRONMENT"]
    assert rows[0].split()[:4] == ["analytics-prod", "azure", "eastus", "production"]
    assert "loki=6.30.1*" in rows[0]
    assert legend == "* pinned by the workload"


@pytest.mark.parametrize("kind", ["fleet", "workload"])
def test_schema_is_json_schema(kind: str) -> None:
    result = fleet("schema", kind)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["$schema"].startswith("https://json-schema.org/")
    assert document["additionalProperties"] is False
    assert set(document["required"]) == {"apiVersion", "kind", "name", "spec"}


def test_schema_unknown_kind() -> None:
    result = fleet("schema", "cluster")
    assert result.exit_code == 2
    assert "use fleet or workload" in result.stderr


def test_help_does_not_import_pulumi_or_celery() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from fleet.cli.main import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "heavy = {'pulumi', 'celery', 'kombu', 'sqlalchemy', 'pydantic_settings'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m == 'fleet.inventory.models'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_exits_2_without_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("fleet")
    out = subprocess.run(
        [str(exe), "-i", str(tmp_path), "validate"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and "no fleet.yaml here" in out.stderr
    assert "Traceback" not in out.stderr


# --- property: random mutations of a valid workload never crash validate ---------------------

VALID = (EXAMPLE / "workloads/payments-prod.yaml").read_text()
yaml_noise = st.sampled_from([*":-[]{}\"'#&*!|>%@` \n\t", "null", "~", "1e9", "yes", "- x", "  "])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace_line", "swap_value"]))
        if op == "insert":
            text = text[:pos] + draw(st.one_of(yaml_noise, st.text(max_size=5))) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 10)) :]
        elif op == "replace_line":
            lines = text.splitlines()
            index = draw(st.integers(0, len(lines) - 1))
            lines[index] = draw(st.text(max_size=30))
            text = "\n".join(lines)
        else:
            key = draw(st.sampled_from(["region", "cloud", "environment", "account_id", "replicas", "name"]))
            value = draw(st.one_of(st.integers(), st.text(max_size=8), st.booleans(), yaml_noise))
            text = text.replace(
                f"{key}: ", f"{key}: {json.dumps(value) if not isinstance(value, str) else value} #", 1
            )
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_validate_never_crashes_on_mutated_workloads(inv: Path, text: str) -> None:
    (inv / "workloads/payments-prod.yaml").write_text(text, encoding="utf-8")
    result = fleet("-i", inv, "validate")
    assert result.exit_code in (0, 2), (text, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 2:
        assert result.stderr.strip(), "an invalid file must explain itself"
        assert "Traceback" not in result.stderr


def test_init_never_overwrites_a_workload_file_that_is_there(tmp_path: Path) -> None:
    # It replaced workloads/example-dev.yaml with the scaffold's.
    mine = tmp_path / "workloads" / "example-dev.yaml"
    mine.parent.mkdir()
    mine.write_text("mine\n")
    result = fleet("init", tmp_path)
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: {mine}: already exists; fleet init only creates new inventories (move it aside first)"
    ]
    assert mine.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["example-dev.yaml", "workloads"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: (d / ".gitignore").mkdir(parents=True),
            "{d}/.gitignore: not a file; fleet init adds .fleet/ to it",
        ),
        (lambda d: d.write_text("x"), "{d}: not a directory; give fleet init a directory for the inventory"),
    ],
)
def test_init_checks_everything_before_it_writes_anything(tmp_path: Path, make: Any, message: str) -> None:
    # A .gitignore that is a directory left workloads/ written and no fleet.yaml, naming a temp file.
    target = tmp_path / "inv"
    make(target)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = fleet("init", target)
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == ["error: " + message.format(d=target)]
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


@pytest.fixture
def chart_cache(tmp_path: Path) -> dict[str, str]:
    """A chart cache holding the real Grafana repositories' indexes (the shared offline copies),
    as `fleet charts pull --from` leaves it: `fleet validate` checks chart versions against it."""
    from charts import SHARED_CHARTS

    if not (SHARED_CHARTS / "index").is_dir():
        pytest.skip(f"no shared chart indexes in {SHARED_CHARTS}")
    env = {"FLEET_CHART_CACHE": str(tmp_path / "chart-cache")}
    pulled = fleet("-i", EXAMPLE, "charts", "pull", "--from", SHARED_CHARTS, env=env)
    assert pulled.exit_code == 0, pulled.output
    return env


def test_workload_add_refuses_while_another_workload_is_invalid(
    inv: Path, tmp_path: Path, chart_cache: dict[str, str]
) -> None:
    """`fleet validate` refused the inventory (a pin the repository does not publish) while
    `fleet workload add` wrote a new file into it."""
    broken = inv / "workloads/analytics-prod.yaml"
    broken.write_text(broken.read_text().replace('loki: "6.30.1"', 'loki: "6.99.1"'))
    validate = fleet("-i", inv, "validate", env=chart_cache)
    assert validate.exit_code == 2
    source = tmp_path / "billing-dev.yaml"
    source.write_text(
        (EXAMPLE / "workloads/search-staging.yaml").read_text().replace("search-staging", "billing-dev")
    )
    before = snapshot(inv)
    result = fleet("-i", inv, "workload", "add", source, env=chart_cache)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == validate.stderr  # the same one line as `fleet validate`
    assert result.stderr == (
        "error: workloads/analytics-prod.yaml:12: spec.versions.loki: loki 6.99.1 is not published in "
        "https://grafana.github.io/helm-charts; its newest there: 7.3.0, 7.2.0, 7.1.0\n"
    )
    assert snapshot(inv) == before


def test_workload_add_refuses_a_pin_its_repository_does_not_publish(
    inv: Path, chart_cache: dict[str, str]
) -> None:
    text = (EXAMPLE / "workloads/search-staging.yaml").read_text().replace("search-staging", "billing-dev")
    before = snapshot(inv)
    result = runner.invoke(
        app,
        ["-i", str(inv), "workload", "add", "-"],
        input=text + '  versions: {mimir: "9.9.9"}\n',
        env=chart_cache,
    )
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(
        "error: <stdin>:12: spec.versions.mimir: mimir-distributed 9.9.9 is not published in "
        "https://grafana.github.io/helm-charts; its newest there: "
    )
    assert snapshot(inv) == before
    # The same file without the pin joins the inventory.
    assert (
        runner.invoke(app, ["-i", str(inv), "workload", "add", "-"], input=text, env=chart_cache).exit_code
        == 0
    )
