"""A DDP communication hook that times the gradient all-reduce for :class:`StepTimer`.

DDP all-reduces gradient buckets while backward still runs; what slows a
rank down is the wait after its last bucket is launched until the last one
completes. :func:`timed_comm_hook` wraps DDP's hook (the default all-reduce
unless another is given): it notes each bucket's launch and completion, and
:meth:`StepTimer.end` counts ``last completion - last launch`` as ``comm_s``.
``torch`` is imported only when the hook is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from brownout.torch.hook import StepTimer

CommHook = Callable[[Any, Any], Any]


def timed_comm_hook(timer: StepTimer, inner: CommHook | None = None) -> CommHook:
    """A comm hook for ``ddp_model.register_comm_hook(state, hook)``.

    Args:
        timer: the rank's :class:`StepTimer`.
        inner: the hook to time (default: torch's ``allreduce_hook``; then
            pass the process group, or None for the default group, as state).
    """
    if inner is None:
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        inner = allreduce_hook

    def hook(state: Any, bucket: Any) -> Any:
        timer.bucket_launched()
        fut = inner(state, bucket)

        def finished(done: Any) -> Any:
            timer.bucket_done()
            return done.value()

        return fut.then(finished)

    # DDP checks the hook's annotations against GradBucket / Future[Tensor] objects;
    # ours are strings (postponed evaluation) naming Any, so present none at all.
    hook.__annotations__ = {}
    return hook


def register(ddp_model: Any, timer: StepTimer, state: Any = None,
             inner: CommHook | None = None) -> None:
    """Register :func:`timed_comm_hook` on a ``DistributedDataParallel`` model."""
    ddp_model.register_comm_hook(state, timed_comm_hook(timer, inner))
