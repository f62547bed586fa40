"""The ``brownout`` command: thin wiring of sources, engine, policy and outputs."""
