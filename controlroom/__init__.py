"""The control room (the hub): central Mimir on object storage, the workloads' credentials, and a
Grafana that queries every workload's tenant at once.

The program is :func:`controlroom.program.controlroom_program`; it imports only :mod:`fleet.inventory.models`
and Pulumi packages, so both the Pulumi engine and the offline render engine can run it.
"""
