"""The inventory: ``fleet.yaml`` and ``workloads/<name>.yaml``, parsed once at the edge.

:mod:`~fleet.inventory.models` is the data model (plain pydantic, safe for the programs to import),
:mod:`~fleet.inventory.loader` reads and checks a whole inventory, :mod:`~fleet.inventory.yamlfile`
keeps each value's line for error messages, :mod:`~fleet.inventory.durations` parses ``90s``/``7d``.
"""
