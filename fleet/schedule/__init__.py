"""The scheduler (``fleet beat``): maintenance windows (:mod:`~fleet.schedule.windows`), the tick
that starts upgrades and drift checks (:mod:`~fleet.schedule.tick`), the single-beat lease
(:mod:`~fleet.schedule.lease`) and the detached processes it starts (:mod:`~fleet.schedule.launcher`)."""
