"""The single-beat guard: several ``fleet beat`` processes may run for availability, and a leader
lease in Redis lets only one of them send ticks.

The lease is a Redis key holding the holder's random token with a TTL; the holder renews it well
within the TTL, and a standby takes over once a dead holder's key expires.
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

LEASE_KEY = "fleet:beat:leader"
LEASE_TTL_S = 30.0

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


@dataclass
class RedisLease:
    """A leader lease in Redis: at most one holder at a time, lost unless renewed within ``ttl_s``.

    Acquire is ``SET key token NX PX ttl``; renew and release are compare-and-set scripts, so a
    holder whose lease expired and was taken over can never extend or delete the new holder's.
    """

    client: redis.Redis
    key: str = LEASE_KEY
    ttl_s: float = LEASE_TTL_S
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{secrets.token_hex(8)}")

    def ensure(self) -> bool:
        """Renew the lease if this holder has it, else try to take it; True when held."""
        ttl_ms = max(1, round(self.ttl_s * 1000))
        if self.client.eval(_RENEW, 1, self.key, self.holder, ttl_ms):
            return True
        return bool(self.client.set(self.key, self.holder, nx=True, px=ttl_ms))

    def release(self) -> bool:
        """Give the lease up (only if this holder has it); True when it was released."""
        return bool(self.client.eval(_RELEASE, 1, self.key, self.holder))

    def current_holder(self) -> str | None:
        value = self.client.get(self.key)
        return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


def guarded_scheduler_class(lease_factory: Callable[[Any], RedisLease]) -> type:
    """A Celery beat scheduler that sends nothing unless it holds the lease ``lease_factory(app)``.

    Every beat process keeps ticking; a standby checks the lease every third of its TTL and
    takes over when the holder's key has expired.
    """
    from celery.beat import Scheduler

    class GuardedScheduler(Scheduler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lease = lease_factory(self.app)
            self.leading = False

        def tick(self, *args: Any, **kwargs: Any) -> float:
            recheck = self.lease.ttl_s / 3
            holds = self.lease.ensure()
            if holds != self.leading:
                log.info("fleet beat %s: %s", self.lease.holder, "leading" if holds else "standing by")
                self.leading = holds
            if not holds:
                return recheck
            return float(min(super().tick(*args, **kwargs), recheck))

        def close(self) -> None:
            super().close()
            if self.leading:
                self.lease.release()

    return GuardedScheduler
