"""The building blocks both Pulumi programs (``controlroom`` and ``workloads``) are made of: the
Kubernetes provider, namespaces, Helm charts, object storage with cloud identity, and the Alloy
configuration language. Like the programs, it imports nothing from ``fleet`` but the inventory
models and their helpers."""
