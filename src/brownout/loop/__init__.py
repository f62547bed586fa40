"""The closed loop: simulator -> telemetry -> detection engine -> policy -> simulator.

- :mod:`brownout.loop.fine`: the real loop, tick by tick with the simulator's
  injected clock (:func:`~brownout.loop.fine.run_loop`).
- :mod:`brownout.loop.coarse_eval`: weeks on thousands of GPUs (coarse mode),
  detection modelled by delays measured in fine mode
  (:mod:`brownout.loop.detection_quality`), costs pinned by
  :mod:`brownout.loop.costs` scenario files.
- :mod:`brownout.loop.evaluate`: ``brownout evaluate`` (both modes, three
  policies); :mod:`brownout.loop.table` its table and plot.
- :mod:`brownout.loop.tuner_sweep`, :mod:`brownout.loop.placement_eval`: the
  checkpoint-tuner and placement targets of issue 6.
"""
