"""Telemetry: the metric catalogue, columnar frames, step records, parsers and sources."""
