"""The one read model: what the API, the dashboard, ``/metrics`` and ``brownout report`` show.

:mod:`~brownout.views.model` holds the frozen view values,
:mod:`~brownout.views.build` turns findings, journal entries and node states
into them, :mod:`~brownout.views.history` keeps the evidence series behind each
finding's plot, and :mod:`~brownout.views.snapshot` assembles one
:class:`~brownout.views.model.ControllerState` per tick. Views import the core
(findings, policy journal and states, topology, telemetry) and never the
service, the CLI or the report.
"""
