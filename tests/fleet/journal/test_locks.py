"""Per-stack locks against real SQLite and PostgreSQL, in-process and across real processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from clocks import Clock
from fleet_services import wait_for

from fleet.errors import LockHeld, OperationError
from fleet.journal import Journal, RolloutStatus, StackStatus
from fleet.journal.locks import LockHolder, LockKeeper, StackLocks, StacksLocked
from fleet.rollout.waves import Wave

HOST = socket.gethostname()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(database_url: str, clock: Clock) -> Iterator[Journal]:
    with Journal(database_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def locks(journal: Journal) -> StackLocks:
    return StackLocks(journal, ttl=timedelta(minutes=5))


@pytest.fixture
def live_process() -> Iterator[LockHolder]:
    """A holder that is a real, running process on this host (not us)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield LockHolder("bob@other-shell", HOST, process.pid)
    process.kill()
    process.wait()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_acquire_hold_and_release(locks: StackLocks, clock: Clock) -> None:
    me = LockHolder.this_process("ana@laptop")
    assert locks.acquire(["dev-1", "eu-prod"], "r-1", me) == []
    held = locks.held()
    assert [(lock.stack, lock.rollout_id, lock.holder) for lock in held] == [
        ("dev-1", "r-1", me),
        ("eu-prod", "r-1", me),
    ]
    assert held[0].acquired_at == held[0].heartbeat_at == clock.now

    clock.advance(minutes=1)
    assert locks.acquire(["eu-prod", "stage-1"], "r-1", me) == []  # re-entrant, and grows
    assert [lock.stack for lock in locks.held()] == ["dev-1", "eu-prod", "stage-1"]
    assert locks.held(["eu-prod"])[0].heartbeat_at == clock.now

    assert locks.release("r-1") == 3
    assert locks.held() == []
    assert locks.acquire(["dev-1"], "r-2", me) == []


def test_a_live_holder_keeps_its_stacks_and_nothing_is_taken(
    locks: StackLocks, live_process: LockHolder
) -> None:
    locks.acquire(["dev-1", "eu-prod"], "r-old", live_process)
    with pytest.raises(StacksLocked) as raised:
        locks.acquire(["stage-1", "eu-prod", "dev-1"], "r-new", LockHolder.this_process("ana@laptop"))
    error = raised.value
    assert isinstance(error, LockHeld) and error.exit_code == 1
    assert error.message.startswith(
        f"stacks dev-1, eu-prod locked by rollout r-old (bob@other-shell, pid {live_process.pid} on {HOST})"
    )
    assert [lock.stack for lock in error.held] == ["dev-1", "eu-prod"]
    assert [lock.stack for lock in locks.held()] == ["dev-1", "eu-prod"]  # stage-1 was not taken


def test_a_fleet_of_stacks_is_locked_renewed_and_refused_all_or_nothing(
    locks: StackLocks, clock: Clock, live_process: LockHolder
) -> None:
    me = LockHolder.this_process("ana@laptop")
    names = [f"w-{n:04d}" for n in range(1200)]  # several statements' worth
    assert locks.acquire(names[:700], "r-1", me) == []
    clock.advance(minutes=1)
    assert locks.acquire(names, "r-1", me) == []  # re-entrant (renewed) and grows
    held = locks.held()
    assert [lock.stack for lock in held] == names
    assert {lock.heartbeat_at for lock in held} == {clock.now}

    locks.acquire(["x-other"], "r-2", live_process)
    with pytest.raises(StacksLocked) as raised:
        locks.acquire([*names[::-1], "x-other", "y-new"], "r-3", me)
    assert [lock.stack for lock in raised.value.held] == [*names, "x-other"]
    assert [lock.stack for lock in locks.held()] == [*names, "x-other"]  # y-new was not taken


def test_locks_held_already_are_renewed_and_nobody_elses_are_touched(
    locks: StackLocks, clock: Clock, live_process: LockHolder
) -> None:
    me = LockHolder.this_process("ana@laptop")
    names = [f"w-{n:04d}" for n in range(1200)]  # several statements' worth
    assert locks.acquire(names, "r-1", me) == []
    locks.acquire(["x-other"], "r-2", live_process)
    started = clock.now
    clock.advance(minutes=1)
    assert locks.acquire(names[::-1], "r-1", me) == []  # all held: renewed, nothing taken
    held = {lock.stack: lock for lock in locks.held()}
    assert {held[name].heartbeat_at for name in names} == {clock.now}
    assert {held[name].acquired_at for name in names} == {started}
    assert held["x-other"].heartbeat_at == started and held["x-other"].rollout_id == "r-2"
    # The same stacks under another rollout id are not this rollout's: refused, as ever.
    with pytest.raises(StacksLocked):
        locks.acquire(names[:3], "r-3", me)
    # Another process of the same name holds nothing of it: its token differs.
    with pytest.raises(StacksLocked):
        locks.acquire(names[:3], "r-1", LockHolder("ana@laptop", HOST, live_process.pid))


def test_the_same_rollout_run_twice_is_refused(locks: StackLocks, live_process: LockHolder) -> None:
    locks.acquire(["dev-1"], "r-1", live_process)
    with pytest.raises(StacksLocked, match="stack dev-1 locked by rollout r-1"):
        locks.acquire(["dev-1"], "r-1", LockHolder.this_process())


def test_a_silent_holder_goes_stale_after_the_ttl(locks: StackLocks, clock: Clock) -> None:
    remote = LockHolder("bob@ci", "some-other-host", 4242)
    locks.acquire(["dev-1", "eu-prod"], "r-old", remote)

    clock.advance(minutes=4)
    assert locks.heartbeat("r-old", remote) == 2
    clock.advance(minutes=4)
    with pytest.raises(StacksLocked):
        locks.acquire(["dev-1"], "r-new")

    clock.advance(minutes=2)
    recovered = locks.acquire(["dev-1"], "r-new")
    assert [(item.previous.stack, item.previous.rollout_id, item.reason) for item in recovered] == [
        ("dev-1", "r-old", "no heartbeat for 6m00s")
    ]
    assert {lock.stack: lock.rollout_id for lock in locks.held()} == {"dev-1": "r-new", "eu-prod": "r-old"}
    assert locks.heartbeat("r-old", remote) == 1  # it notices it lost one


def test_a_dead_process_on_this_host_is_recognised_at_once(locks: StackLocks) -> None:
    gone = LockHolder("ana@laptop", HOST, dead_pid())
    locks.acquire(["dev-1", "eu-prod"], "r-1", gone)

    # `fleet rollout resume r-1` after the CLI was killed: the same rollout takes its locks back.
    recovered = locks.acquire(["dev-1", "eu-prod"], "r-1")
    assert [item.reason for item in recovered] == [f"process {gone.pid} on {HOST} is gone"] * 2
    assert {lock.holder for lock in locks.held()} == {LockHolder.this_process()}
    assert locks.stale_reason(locks.held()[0]) is None


def test_a_pid_on_another_host_is_not_judged_here(locks: StackLocks) -> None:
    elsewhere = LockHolder("bob@ci", "some-other-host", dead_pid())
    locks.acquire(["dev-1"], "r-1", elsewhere)
    with pytest.raises(StacksLocked):
        locks.acquire(["dev-1"], "r-2")


def _acquire_in_a_process(
    url: str, stacks: list[str], rollout_id: str, barrier: object, done: object
) -> None:
    code = 4  # an unexpected error
    try:
        with Journal(url) as journal:
            barrier.wait(timeout=30)  # type: ignore[attr-defined]
            try:
                StackLocks(journal).acquire(stacks, rollout_id)
                code = 0
            except LockHeld:
                code = 3
    finally:
        try:
            done.wait(timeout=30)  # type: ignore[attr-defined]  # stay alive until every process has tried
        finally:
            os._exit(code)


def _race(url: str, requests: list[list[str]]) -> list[int]:
    context = multiprocessing.get_context("fork")
    barrier, done = context.Barrier(len(requests)), context.Barrier(len(requests))
    processes = [
        context.Process(target=_acquire_in_a_process, args=(url, stacks, f"r-{n}", barrier, done))
        for n, stacks in enumerate(requests)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    return [process.exitcode if process.exitcode is not None else -1 for process in processes]


def test_processes_racing_for_the_same_stacks_have_one_winner(database_url: str) -> None:
    stacks = ["controlroom", "dev-1", "eu-prod", "stage-1"]
    requests = [stacks[n % 4 :] + stacks[: n % 4] for n in range(8)]  # every order
    codes = _race(database_url, requests)
    assert sorted(codes) == [0] + [3] * 7
    winner = f"r-{codes.index(0)}"
    with Journal(database_url) as journal:
        held = StackLocks(journal).held()
    assert [(lock.stack, lock.rollout_id) for lock in held] == [(stack, winner) for stack in stacks]


def test_processes_racing_for_overlapping_stacks_never_share_one(database_url: str) -> None:
    ring = [f"w{n}" for n in range(6)]
    requests = [[ring[n], ring[(n + 1) % 6]] for n in range(6)]
    codes = _race(database_url, requests)
    winners = [requests[n] for n, code in enumerate(codes) if code == 0]
    assert set(codes) <= {0, 3} and winners
    taken = [stack for stacks in winners for stack in stacks]
    assert len(taken) == len(set(taken))  # winners' stacks are disjoint
    for n, code in enumerate(codes):  # every loser met a winner on one of its stacks
        if code == 3:
            assert set(requests[n]) & set(taken)
    with Journal(database_url) as journal:
        held = {lock.stack: lock.rollout_id for lock in StackLocks(journal).held()}
    assert held == {stack: f"r-{requests.index(stacks)}" for stacks in winners for stack in stacks}


def _hold_until_killed(url: str, ready: object) -> None:
    with Journal(url) as journal:
        StackLocks(journal).acquire(["dev-1"], "r-killed")
    ready.set()  # type: ignore[attr-defined]
    signal.pause()


def test_locks_of_a_killed_process_are_recovered(database_url: str) -> None:
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    process = context.Process(target=_hold_until_killed, args=(database_url, ready))
    process.start()
    assert ready.wait(timeout=60)
    with Journal(database_url) as journal:
        locks = StackLocks(journal)
        with pytest.raises(StacksLocked, match="r-killed"):
            locks.acquire(["dev-1"], "r-next")
        process.kill()
        process.join(timeout=60)
        recovered = locks.acquire(["dev-1"], "r-next")
        assert [item.previous.rollout_id for item in recovered] == ["r-killed"]
        assert recovered[0].reason == f"process {process.pid} on {HOST} is gone"


def test_each_holder_has_its_own_token_and_a_process_keeps_one() -> None:
    assert LockHolder.this_process().token == LockHolder.this_process("someone-else").token
    assert LockHolder("ana", HOST, 1).token != LockHolder("ana", HOST, 1).token


def test_the_keeper_renews_the_locks_while_the_coordinator_waits(locks: StackLocks, clock: Clock) -> None:
    locks.acquire(["dev-1", "eu-prod"], "r-1")
    with LockKeeper(locks, "r-1", 2, every=0.02) as keeper:
        # The coordinator blocks in a ten-minute health gate; only the keeper's thread runs.
        clock.advance(minutes=10)
        wait_for(lambda: all(lock.heartbeat_at == clock.now for lock in locks.held()), "a renewal")
        with pytest.raises(StacksLocked, match="locked by rollout r-1"):
            locks.acquire(["dev-1"], "r-2", LockHolder("bob@ci", "some-other-host", 4242))
        keeper.check()
    assert keeper.lost is None


def test_the_keeper_notices_its_locks_were_taken_and_check_raises(locks: StackLocks, clock: Clock) -> None:
    remote = LockHolder("bob@ci", "some-other-host", 4242)
    locks.acquire(["dev-1", "eu-prod"], "r-1", remote)
    clock.advance(minutes=6)  # the remote coordinator was cut off longer than the TTL
    locks.acquire(["dev-1"], "r-1")  # resumed here
    keeper = LockKeeper(locks, "r-1", 2, every=0.02, holder=remote).start()
    try:
        wait_for(lambda: keeper.lost is not None, "the keeper to notice")
    finally:
        keeper.stop()
    with pytest.raises(OperationError, match="another process took over 1 of its 2 stack locks"):
        keeper.check()


def test_only_the_holder_releases_its_locks(locks: StackLocks, clock: Clock) -> None:
    old = LockHolder("bob@ci", "some-other-host", 4242)
    locks.acquire(["dev-1", "eu-prod"], "r-1", old)
    clock.advance(minutes=6)
    locks.acquire(["dev-1", "eu-prod"], "r-1")  # `resume` on this host took them over
    assert locks.release("r-1", old) == 0  # the old coordinator exits: nothing of ours goes
    assert {lock.holder for lock in locks.held()} == {LockHolder.this_process()}
    assert locks.release("r-1") == 2


def test_the_driver_of_a_rollout_is_its_live_holder_or_why_none(locks: StackLocks) -> None:
    assert locks.driver("r-1").reason == "no process holds its stack locks"
    locks.acquire(["dev-1"], "r-1")
    assert locks.driver("r-1").holder == LockHolder.this_process()
    gone = LockHolder("ana@laptop", HOST, dead_pid())
    locks.acquire(["eu-prod"], "r-2", gone)
    driver = locks.driver("r-2")
    assert not driver.alive
    assert driver.reason == f"its coordinator (ana@laptop, pid {gone.pid} on {HOST}) stopped: " + (
        f"process {gone.pid} on {HOST} is gone"
    )


@pytest.mark.parametrize("status", [RolloutStatus.RUNNING, RolloutStatus.CANCELLING])
def test_taking_the_locks_of_a_dead_coordinator_marks_its_rollout(
    journal: Journal, locks: StackLocks, status: RolloutStatus
) -> None:
    first = journal.create_rollout(
        [Wave(0, "all", ("dev-1", "eu-prod"))], kind="rollout", dry_run=False, policy={}, versions={}
    )
    journal.set_status(first.id, "running")
    if status is RolloutStatus.CANCELLING:
        journal.request_cancel(first.id)
    gone = LockHolder("ana@laptop", HOST, dead_pid())
    locks.acquire(["dev-1", "eu-prod"], first.id, gone)

    locks.acquire(["dev-1"], "r-second")
    after = journal.rollout(first.id)
    if status is RolloutStatus.RUNNING:
        assert after.status is RolloutStatus.HALTED
        assert after.halt_reason is not None and after.halt_reason.startswith(
            f"interrupted: its coordinator (ana@laptop, pid {gone.pid} on {HOST}) stopped"
        )
        assert f"fleet rollout resume {first.id}" in after.halt_reason
    else:
        assert after.status is RolloutStatus.CANCELLED
        assert {s.status for s in journal.get_rollout(first.id).stacks} == {StackStatus.CANCELLED}
