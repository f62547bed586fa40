"""Executors: carry actions out on Slurm, Kubernetes, or nowhere (dry-run, fakes).

The Kubernetes executor lives in :mod:`brownout.executors.kubernetes` and is
imported only when asked for, so the core never loads the Kubernetes client.
"""

from brownout.executors.dryrun import DryRunExecutor
from brownout.executors.fake import FakeExecutor
from brownout.policy.ports import Executor, Observation, PermanentExecutorError

__all__ = ["DryRunExecutor", "Executor", "FakeExecutor", "Observation",
           "PermanentExecutorError"]
