"""The single-beat guard on a real Redis: one lease holder, renewals, take-over, and only the
leading beat sending ticks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fleet_services import RedisServer

from fleet.executors.celery_app import BEAT_QUEUE, DEFAULT_QUEUE, create_app
from fleet.schedule.beat import configure_beat
from fleet.schedule.lease import RedisLease, guarded_scheduler_class
from fleet.settings import Settings


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    yield connection
    connection.close()


def race(leases: list[RedisLease]) -> list[bool]:
    """Every lease calls ensure() at the same moment, each from its own thread."""
    barrier = threading.Barrier(len(leases))
    won = [False] * len(leases)

    def contend(index: int) -> None:
        barrier.wait()
        won[index] = leases[index].ensure()

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(leases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_two_contenders_racing_get_one_lease(client: redis.Redis) -> None:
    for round_ in range(20):
        leases = [RedisLease(client, key=f"race-{round_}", ttl_s=5) for _ in range(2)]
        won = race(leases)
        assert won.count(True) == 1, won
        winner = leases[won.index(True)]
        assert winner.current_holder() == winner.holder


def test_the_holder_renews_and_a_standby_takes_over_only_after_expiry(client: redis.Redis) -> None:
    leader = RedisLease(client, key="lease", ttl_s=0.5)
    standby = RedisLease(client, key="lease", ttl_s=0.5)
    assert leader.ensure()
    for _ in range(5):  # renewing keeps it, however long it runs
        time.sleep(0.2)
        assert leader.ensure()
        assert not standby.ensure()
    # The leader stalls (no renewal): the key expires and the standby takes over.
    deadline = time.monotonic() + 5
    while not standby.ensure():
        assert time.monotonic() < deadline, "the standby never took over"
        time.sleep(0.05)
    assert standby.current_holder() == standby.holder
    # The old leader can neither renew, nor delete, the new holder's lease.
    assert not leader.ensure()
    assert not leader.release()
    assert standby.current_holder() == standby.holder
    assert standby.release()
    assert standby.current_holder() is None


def test_only_the_leading_beat_sends_ticks(
    client: redis.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    app = create_app(Settings(broker_url=redis_server.url))
    configure_beat(app, str(tmp_path), every_s=0.05)
    scheduler_class = guarded_scheduler_class(lambda app: RedisLease(client, key="beat", ttl_s=30))
    first, second = scheduler_class(app=app), scheduler_class(app=app)
    queue = BEAT_QUEUE  # ticks have their own queue: never behind queued stack updates
    try:
        for _ in range(6):
            time.sleep(0.06)  # let the 50 ms entry fall due
            first.tick()
            second.tick()
        sent = client.llen(queue)
        assert first.leading and not second.leading
        assert 1 <= sent <= 6  # one tick per due interval, from the leader only
        first.close()  # the leader stops: it gives the lease up
        time.sleep(0.06)
        second.tick()
        assert second.leading
        assert client.llen(queue) == sent + 1
        assert client.llen(DEFAULT_QUEUE) == 0
    finally:
        second.close()
        app.close()
