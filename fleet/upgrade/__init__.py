"""Upgrades: the fleet's version set (:mod:`~fleet.upgrade.versionset`), the skew between what runs
and what the inventory asks for (:mod:`~fleet.upgrade.skew`), planning an upgrade
(:mod:`~fleet.upgrade.plan`) and starting one as a rollout (:mod:`~fleet.upgrade.start`)."""
