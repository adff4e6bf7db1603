"""Alerting shipped with the fleet: Prometheus rule files as a typed model (:mod:`~kit.alerting.rules`),
the rules themselves (:mod:`~kit.alerting.catalogue`) and the Alertmanager configuration built from
``spec.alerting`` (:mod:`~kit.alerting.alertmanager`)."""
