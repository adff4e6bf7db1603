"""``fleet beat``: the scheduler of upgrades in maintenance windows and of drift checks."""

from __future__ import annotations

import typer

from fleet.cli.app import app, state
from fleet.cli.help import examples
from fleet.errors import UserError


@app.command(epilog=examples("FLEET_BROKER_URL=redis://redis:6379/0 fleet beat -i inventories/acme"))
def beat(ctx: typer.Context) -> None:
    """Run the scheduler of upgrades, drift checks and credential rotations (Celery beat); several
    may run, one sends."""
    st = state(ctx)
    broker = st.settings.broker_url
    if not broker:
        raise UserError("fleet beat needs a broker: set FLEET_BROKER_URL (e.g. redis://localhost:6379/0)")
    if not broker.startswith(("redis://", "rediss://")):
        raise UserError("fleet beat needs a Redis broker (redis:// or rediss://) for its single-beat lease")
    import redis

    from fleet.engines import require_shared_state
    from fleet.executors.celery_app import create_app
    from fleet.schedule.beat import configure_beat
    from fleet.schedule.lease import RedisLease, guarded_scheduler_class

    inventory = st.inventory()
    if inventory.fleet.spec.upgrades is not None:  # its upgrades will run on the workers
        require_shared_state(st.settings, inventory, st.settings.rollout_engine)
    celery = create_app(st.settings)
    configure_beat(celery, str(inventory.root.resolve()))
    client = redis.Redis.from_url(broker)
    scheduler = guarded_scheduler_class(lambda _app: RedisLease(client))
    typer.echo(f"fleet beat: scheduling {inventory.root.resolve()} (one leader among all beats)")
    celery.Beat(scheduler=scheduler, loglevel="INFO", quiet=True).run()
