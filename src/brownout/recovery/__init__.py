"""Recovery: the goodput ledger, the checkpoint tuner, aware placement.

- :func:`~brownout.recovery.ledger.build_ledger`: where each job's time went
  (causes of ``spec/cli.md``), from step records, findings and, in the
  simulator, known interruptions; ETTR and availability per job and cluster.
- :class:`~brownout.recovery.tuner.CheckpointTuner`: the Young/Daly interval
  from a measured save cost and an online gamma-Poisson interruption rate.
- :func:`~brownout.recovery.placement.place_job`: health-, heat- and
  topology-aware placement; :mod:`~brownout.recovery.export` for Slurm and
  Kubernetes; :mod:`~brownout.recovery.fragmentation` for the openb trace.
"""

from brownout.recovery.ledger import CAUSES, Interruption, JobLedger, Ledger, build_ledger

__all__ = ["CAUSES", "Interruption", "JobLedger", "Ledger", "build_ledger"]
