"""fleet: a hub-and-spoke fleet manager for observability stacks."""

__version__ = "0.1.0"
