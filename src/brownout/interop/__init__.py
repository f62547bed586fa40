"""Interop with the health tools already in a fleet (docs/interop.md).

In: node-local health verdicts (NVSentinel HealthEvents, node-problem-detector
node conditions such as Meta GCM's) become :class:`~brownout.interop.verdicts.Verdict`
records, and :func:`~brownout.interop.join.corroborate` adds them as evidence
to brownout's own findings. A verdict never makes a finding and never reaches
the policy by itself.

Out: findings published as node conditions and Events the way
node-problem-detector does (:mod:`brownout.interop.conditions`), and as
NVSentinel HealthEvents (:mod:`brownout.interop.health_events`).

The core modules here are pure; the Kubernetes client and gRPC live only in
the adapters :mod:`brownout.interop.k8s` and :mod:`brownout.interop.grpc_sink`,
imported lazily.
"""
