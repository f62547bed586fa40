"""brownout: keep GPU training clusters honest.

Detect partial failures, localise them to the component at fault, isolate
them with guardrails, recover the work, and report goodput, not availability.
"""

__version__ = "0.1.0"
