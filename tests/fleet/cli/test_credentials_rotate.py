"""Credential rotation (``fleet credentials rotate``) through real ``fleet worker`` processes: a
rotation killed in each of its three phases resumes where it stopped and ends with only the new
passwords; status and history show the phase."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from fleet_services import (
    RedisServer,
    Workers,
    fleet_env,
    run_fleet,
    start_fleet,
    stop_process,
    wait_for,
    write_script,
)

from fleet.journal import Journal, RolloutKind, RolloutStatus, journal_url_for
from fleet.journal.credentials import credential_generations

WORKLOADS = ("analytics-prod", "payments-prod", "search-staging")


def _starts(log: Path, offset: int) -> list[str]:
    """The stacks started since ``offset`` bytes of the engine's log, in order."""
    lines = log.read_text()[offset:].splitlines()
    return [line.split()[1] for line in lines if line.startswith("start ")]


def _kill_when(env: dict[str, str], log: Path, cli_log: Path, started: str, count: int) -> None:
    """Run `fleet credentials rotate --all` and SIGKILL it once ``started`` started ``count``
    times since now (the stack keeps running in its worker; the coordinator is gone)."""
    offset = len(log.read_text())
    cli = start_fleet(env, cli_log, "credentials", "rotate", "--all", "--yes")
    try:
        wait_for(lambda: _starts(log, offset).count(started) >= count, f"{started} to start")
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(30)
    finally:
        stop_process(cli)


def test_a_rotation_killed_in_each_phase_resumes_and_ends_with_only_new_passwords(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    script = write_script(tmp_path / "script.json", log=str(log), default={"duration": 0.2})
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=2)
    assert run_fleet(env, "rollout", "--all", "--yes").returncode == 0
    slow = {"duration": 3}
    write_script(script, log=str(log), default={"duration": 0.2}, stacks={"controlroom": slow})

    # Phase 1 (accept): killed while the control room runs.
    _kill_when(env, log, tmp_path / "cli1.log", "controlroom", 1)
    with Journal(journal_url_for(inventory)) as journal:
        generations = credential_generations(journal)
        assert {name: (g.generation, g.next) for name, g in generations.items()} == {
            name: (0, 1) for name in WORKLOADS
        }
    status = {row["stack"]: row for row in json.loads(run_fleet(env, "status", "-o", "json").stdout)}
    assert status["payments-prod"]["rotation"] == "1/3 accept"

    # Phase 2 (switch): resumed, then killed while a workload runs.
    write_script(script, log=str(log), default={"duration": 3})
    _kill_when(env, log, tmp_path / "cli2.log", "payments-prod", 1)
    assert "Continuing the rotation" in (tmp_path / "cli2.log").read_text()
    history = json.loads(run_fleet(env, "history", "-o", "json").stdout)
    assert history[0]["kind"] == "rotate" and history[0]["phase"] == "2/3 switch"

    # Phase 3 (retire): resumed, then killed while the control room runs again.
    write_script(script, log=str(log), default={"duration": 0.2}, stacks={"controlroom": slow})
    _kill_when(env, log, tmp_path / "cli3.log", "controlroom", 1)

    write_script(script, log=str(log), default={"duration": 0.2})
    resumed = run_fleet(env, "credentials", "rotate", "--all", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Rotation done: only the new passwords authenticate." in resumed.stdout

    with Journal(journal_url_for(inventory)) as journal:
        generations = credential_generations(journal)
        assert {name: (g.generation, g.next) for name, g in generations.items()} == {
            name: (1, None) for name in WORKLOADS
        }
        phases = [s.rollout for s in journal.list_rollouts(kind=RolloutKind.ROTATE)][::-1]
        assert [p.policy["phase"] for p in phases] == ["accept", "switch", "retire"]
        assert all(p.status is RolloutStatus.SUCCEEDED for p in phases)
        accept, switch, retire = (journal.get_rollout(p.id) for p in phases)
        # What the control room was rolled out with, as its worker recorded it.
        accepted = accept.stack("controlroom").attempts[-1].summary or {}
        retired = retire.stack("controlroom").attempts[-1].summary or {}
        assert accepted["credentials"] == {name: {"generation": 0, "next": 1} for name in WORKLOADS}
        assert retired["credentials"] == {name: {"generation": 1, "next": None} for name in WORKLOADS}
        assert sorted(state.stack for state in switch.stacks) == list(WORKLOADS)
        assert len(switch.waves) >= 2  # in waves, canary first
        # Each phase's stacks succeeded exactly once: a resume never ran a finished stack again.
        for phase in (accept, switch, retire):
            for state in phase.stacks:
                assert [a.outcome for a in state.attempts].count("succeeded") == 1, (phase.rollout.id, state)

    status = {row["stack"]: row for row in json.loads(run_fleet(env, "status", "-o", "json").stdout)}
    assert status["payments-prod"].get("rotation") is None
    before = len(log.read_text())
    unchanged = run_fleet(env, "rollout", "--all", "--yes")  # what was rotated is what is deployed
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert _starts(log, before) == []
    again = run_fleet(env, "credentials", "rotate", "payments-prod", "--yes")  # a new rotation of one
    assert again.returncode == 0, again.stdout + again.stderr
    with Journal(journal_url_for(inventory)) as journal:
        generations = credential_generations(journal)
        assert (generations["payments-prod"].generation, generations["analytics-prod"].generation) == (2, 1)


def test_bad_names_are_refused_before_anything_is_recorded(inventory: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.json")
    dead_broker = fleet_env(inventory, script, "redis://127.0.0.1:9/0")  # bad names come first
    local = fleet_env(inventory, script)
    for env, args, message in [
        (dead_broker, ("nope",), "no workload named 'nope'"),
        (local, (), "name the workloads whose credentials to rotate, or use --all"),
        (dead_broker, ("payments-prod", "--all"), "give workload names or --all, not both"),
        (local, ("--all",), "stdin is not a terminal, so nobody can confirm; pass --yes"),
    ]:
        result = run_fleet(env, "credentials", "rotate", *args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
    with Journal(journal_url_for(inventory)) as journal:
        assert journal.list_rollouts(kind=RolloutKind.ROTATE) == []
        assert credential_generations(journal) == {}


def test_a_dry_run_shows_the_phases_waves_and_stacks_and_records_nothing(
    inventory: Path, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    script = write_script(tmp_path / "script.json", log=str(log), default={"duration": 0})
    env = fleet_env(inventory, script, FLEET_WORKERS="2")

    # Nothing recorded yet: a new rotation's three phases; not even the journal is created.
    dry = run_fleet(env, "credentials", "rotate", "--all", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["dry_run"], plan["continues"], plan["rotation"]) == (True, False, None)
    assert plan["workloads"] == list(WORKLOADS)
    accept, switch, retire = plan["phases"]
    assert [accept["phase"], switch["phase"], retire["phase"]] == ["1/3 accept", "2/3 switch", "3/3 retire"]
    assert accept["stacks"] == retire["stacks"] == ["controlroom"]
    assert sorted(switch["stacks"]) == sorted(WORKLOADS)
    assert switch["waves"][0]["name"] == "canary" and len(switch["waves"][0]["stacks"]) == 1  # canary: 1
    assert not (inventory / ".fleet").exists()
    assert not log.exists()

    # A rotation whose switch fails on payments-prod stops in phase 2.
    assert run_fleet(env, "rollout", "--all", "--yes").returncode == 0
    write_script(
        script, log=str(log), default={"duration": 0}, stacks={"payments-prod": {"fail": "timed out"}}
    )
    stopped = run_fleet(env, "credentials", "rotate", "--all", "--yes")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    with Journal(journal_url_for(inventory)) as journal:
        rotations = [s.rollout for s in journal.list_rollouts(kind=RolloutKind.ROTATE)]
        generations = credential_generations(journal)
    (switching, accepting) = rotations
    runs = log.read_text()

    dry = run_fleet(env, "credentials", "rotate", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["continues"], plan["rotation"], plan["workloads"]) == (True, accepting.id, list(WORKLOADS))
    switch, retire = plan["phases"]
    assert (switch["phase"], switch["resumes"], switch["stacks"]) == (
        "2/3 switch",
        switching.id,
        ["payments-prod"],
    )
    assert (retire["phase"], retire["resumes"], retire["stacks"]) == ("3/3 retire", None, ["controlroom"])
    table = run_fleet(env, "credentials", "rotate", "--dry-run")
    assert table.returncode == 0, table.stdout + table.stderr
    assert f"the unfinished rotation {accepting.id} of {', '.join(WORKLOADS)} would continue" in table.stdout
    assert f"2/3 switch (resumes {switching.id})" in table.stdout
    assert "Nothing was recorded and no stack was touched." in table.stdout

    # Nothing ran, nothing was recorded.
    assert log.read_text() == runs
    with Journal(journal_url_for(inventory)) as journal:
        assert [s.rollout for s in journal.list_rollouts(kind=RolloutKind.ROTATE)] == rotations
        assert credential_generations(journal) == generations
        assert journal.get_rollout(switching.id).rollout.status is switching.status


def test_json_output_goes_with_a_dry_run(inventory: Path, tmp_path: Path) -> None:
    env = fleet_env(inventory, write_script(tmp_path / "script.json"))
    result = run_fleet(env, "credentials", "rotate", "--all", "--yes", "-o", "json")
    assert result.returncode == 2
    assert "--output json|yaml goes with --dry-run" in result.stderr and "Traceback" not in result.stderr
    assert not (inventory / ".fleet").exists()
