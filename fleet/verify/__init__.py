"""``fleet verify``: proofs over rendered stacks. :mod:`~fleet.verify.graph` builds an Alloy
configuration's component graph, :mod:`~fleet.verify.dataflow` proves the data-path invariants on
it, :mod:`~fleet.verify.plans` proves what spans plans (credentials, secret leaks), and
:mod:`~fleet.verify.report` renders, runs every proof and reports per stack."""
