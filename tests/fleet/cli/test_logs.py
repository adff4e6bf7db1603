"""``fleet logs`` and the live view of a failing stack: the engine output of each attempt, from
the journal, with secrets scrubbed."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fleet_services import fleet_env, run_fleet, write_script

SECRET = "s3cr3t-passphrase"


def test_a_failed_stack_shows_its_output_scrubbed_live_and_in_fleet_logs(
    inventory: Path, tmp_path: Path
) -> None:
    lines = [f"step {number}" for number in range(20)] + [f"connecting with {SECRET}", "installing mimir"]
    script = write_script(
        tmp_path / "script.json", stacks={"payments-prod": {"fail": "mimir chart timed out", "output": lines}}
    )
    env = fleet_env(inventory, script, None, FLEET_WORKERS="1", PULUMI_CONFIG_PASSPHRASE=SECRET)

    result = run_fleet(env, "rollout", "payments-prod", "--yes")

    assert result.returncode == 1, result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr
    tail = [line for line in result.stdout.splitlines() if line.startswith("  | ")]
    assert (
        len(tail) == 10
        and "connecting with ***" in tail[-3]
        and tail[-1].endswith("error: mimir chart timed out")
    )
    rollout_id = re.search(r"\b(r-\d{8}-\d{4}-[0-9a-f]{4})\b", result.stdout).group(1)  # type: ignore[union-attr]

    logs = run_fleet(env, "logs", rollout_id, "payments-prod")

    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.startswith("── attempt 1 on ") and ": failed" in logs.stdout.splitlines()[0]
    assert "step 0" in logs.stdout and "connecting with ***" in logs.stdout and SECRET not in logs.stdout
    [attempt] = json.loads(run_fleet(env, "logs", rollout_id, "payments-prod", "-o", "json").stdout)
    assert attempt["outcome"] == "failed" and attempt["truncated"] == 0
    assert attempt["output"].splitlines()[-1].endswith("error: mimir chart timed out")
    unknown = run_fleet(env, "logs", rollout_id, "no-such-stack")
    assert unknown.returncode == 2 and "is not part of rollout" in unknown.stderr
