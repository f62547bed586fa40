"""Training-job hook: step-time records (spec/telemetry.md §4) from a training loop.

Written to a JSON Lines file, or pushed to a running controller when
``BROWNOUT_URL`` is set (spec/telemetry.md §5, :class:`StepPusher`).

Dependency-light: importing :mod:`brownout.torch` imports neither torch nor
Lightning; :mod:`brownout.torch.ddp` imports torch only when a hook is built,
:mod:`brownout.torch.lightning` imports Lightning only when a callback is built.

- :class:`StepTimer` -- ``with timer.step(n): ... with timer.comm(): all_reduce(...)``
- :func:`timed_comm_hook` -- time DDP's gradient all-reduce
- :func:`lightning_callback` -- the same from a Lightning ``Trainer``
"""

from brownout.torch.ddp import register, timed_comm_hook
from brownout.torch.hook import StepTimer
from brownout.torch.identity import (
    PushSettings,
    RankIdentity,
    identity_from_env,
    push_settings_from_env,
)
from brownout.torch.lightning import StepTimeCallbackLogic, lightning_callback
from brownout.torch.pusher import StepPusher
from brownout.torch.writer import StepLogWriter

__all__ = [
    "PushSettings", "RankIdentity", "StepLogWriter", "StepPusher", "StepTimeCallbackLogic",
    "StepTimer", "identity_from_env", "lightning_callback", "push_settings_from_env",
    "register", "timed_comm_hook",
]
