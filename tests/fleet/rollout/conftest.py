import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "executors"))

from fleet_services import fleet_workers, inventory, redis_server

__all__ = ["fleet_workers", "inventory", "redis_server"]
