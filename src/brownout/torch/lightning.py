"""A Lightning callback that writes the step-time log.

:class:`StepTimeCallbackLogic` holds the behaviour and needs no Lightning;
:func:`lightning_callback` mixes it into Lightning's ``Callback`` class
(``lightning`` or the older ``pytorch_lightning`` package, whichever is
installed). Steps are numbered by ``trainer.global_step``, which goes back
after a restart from a checkpoint, as the log format expects. Under a DDP
strategy the gradient all-reduce is timed by a comm hook registered when
training starts; otherwise ``comm_s`` only counts :meth:`StepTimer.comm` blocks
in the user's own code.
"""

from __future__ import annotations

import importlib
from typing import Any

from brownout.errors import InputError
from brownout.torch.ddp import CommHook, timed_comm_hook
from brownout.torch.hook import StepTimer


class StepTimeCallbackLogic:
    """Callback methods with Lightning's hook names and signatures.

    Args:
        timer: the rank's :class:`StepTimer`.
        time_ddp: register the timing comm hook when the model is DDP-wrapped.
        inner_hook: a comm hook of your own (e.g. PowerSGD) to time instead of all-reduce.
        hook_state: state passed to the comm hook.
    """

    def __init__(self, timer: StepTimer, time_ddp: bool = True,
                 inner_hook: CommHook | None = None, hook_state: Any = None) -> None:
        self.timer = timer
        self.time_ddp = time_ddp
        self.inner_hook = inner_hook
        self.hook_state = hook_state
        self.ddp_hooked = False

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        model = getattr(getattr(trainer, "strategy", None), "model", None)
        if self.time_ddp and model is not None and hasattr(model, "register_comm_hook"):
            model.register_comm_hook(self.hook_state, timed_comm_hook(self.timer,
                                                                      self.inner_hook))
            self.ddp_hooked = True

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any,
                             batch_idx: int) -> None:
        self.timer.begin(int(trainer.global_step))

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.timer.end()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.timer.writer.flush()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.timer.writer.flush()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.timer.close()


def _callback_base() -> type:
    for module in ("lightning.pytorch", "pytorch_lightning"):
        try:
            base: type = importlib.import_module(module).Callback
        except ImportError:
            continue
        return base
    raise InputError("the Lightning callback needs lightning: pip install lightning")


def lightning_callback(timer: StepTimer, **settings: Any) -> Any:
    """A ``lightning.pytorch.Callback`` instance that writes the step-time log.

    ``trainer = Trainer(callbacks=[lightning_callback(StepTimer.for_rank(path))])``
    """
    cls = type("BrownoutStepTimeCallback", (StepTimeCallbackLogic, _callback_base()), {})
    return cls(timer, **settings)
