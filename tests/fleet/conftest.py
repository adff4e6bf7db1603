"""Fixtures with real services for the manager's tests: a redis-server of the test's own, real
``fleet worker`` processes, and a copy of the example inventory (see tests/support)."""

from fleet_services import fleet_workers, inventory, redis_server

__all__ = ["fleet_workers", "inventory", "redis_server"]
