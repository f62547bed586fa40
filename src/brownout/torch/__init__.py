"""Training-job hook: write the step-time log (spec/telemetry.md §4) from a training loop.

Dependency-light: importing :mod:`brownout.torch` imports neither torch nor
Lightning; :mod:`brownout.torch.ddp` imports torch only when a hook is built,
:mod:`brownout.torch.lightning` imports Lightning only when a callback is built.

- :class:`StepTimer` -- ``with timer.step(n): ... with timer.comm(): all_reduce(...)``
- :func:`timed_comm_hook` -- time DDP's gradient all-reduce
- :func:`lightning_callback` -- the same from a Lightning ``Trainer``
"""

from brownout.torch.ddp import register, timed_comm_hook
from brownout.torch.hook import StepTimer
from brownout.torch.identity import RankIdentity, identity_from_env
from brownout.torch.lightning import StepTimeCallbackLogic, lightning_callback
from brownout.torch.writer import StepLogWriter

__all__ = [
    "RankIdentity", "StepLogWriter", "StepTimeCallbackLogic", "StepTimer", "identity_from_env",
    "lightning_callback", "register", "timed_comm_hook",
]
