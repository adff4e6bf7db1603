"""The workload Pulumi program and its components (Alloy, Mimir, Loki, Grafana, cloud storage)."""
