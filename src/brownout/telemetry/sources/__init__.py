"""Telemetry sources: recorded files, exporter scrapes, Prometheus, the simulator.

Every source turns the outside world into :class:`~brownout.telemetry.frame.Frame`
values keyed by one shared :class:`~brownout.telemetry.series.SeriesRegistry`,
behind the small :class:`~brownout.telemetry.sources.base.Source` protocol.
"""
