"""Incremental feeds from a running simulation: new telemetry and new step records.

:meth:`Simulation.frame` re-resolves every series' labels on each call and
:meth:`Simulation.steps` re-sorts the whole step log; called every tick of a
closed loop that is quadratic in the run. These feeds do the same work once:
series ids are resolved once per metric (the labels of a simulated cluster
never change) and only the step chunks added since the last call are sorted.
The frames and records they return equal those of the simulator's own
methods restricted to the new data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.sim.engine import Simulation
from brownout.sim.recording import GPU_METRICS, NIC_METRICS, PORT_METRICS
from brownout.telemetry.frame import Frame
from brownout.telemetry.series import IGNORED, SeriesRegistry
from brownout.telemetry.steps import StepRecords

I32 = npt.NDArray[np.int32]


class TelemetryFeed:
    """Frames of the scrapes a simulation recorded since the last call.

    Args:
        sim: the running simulation.
        registry: series registry the frames are keyed to.
    """

    def __init__(self, sim: Simulation, registry: SeriesRegistry) -> None:
        self.sim = sim
        self.registry = registry
        self._next = 0
        lab = sim.labels
        self._groups = (("gpu", GPU_METRICS, lab.gpu_node), ("nic", NIC_METRICS, lab.nic_node),
                        ("port", PORT_METRICS, lab.port_switch))
        self._ids: dict[tuple[str, str], I32] = {}
        for group, names, _ in self._groups:
            dicts = lab.dicts(group)
            for name in names:
                self._ids[(group, name)] = np.array(
                    [registry.id_for(name, d) for d in dicts], dtype=np.int32)

    def new_frame(self) -> Frame | None:
        """Samples of the scrapes since the last call (None if there are none)."""
        rec = self.sim.recording
        start = self._next
        if len(rec) <= start:
            return None
        self._next = len(rec)
        parts = []
        for group, names, owner in self._groups:
            ts = rec.stamps(group, start)[:, owner]
            for name in names:
                values = rec.matrix(group, name, start)
                sid = np.broadcast_to(self._ids[(group, name)], values.shape)
                keep = ~np.isnan(values) & (sid != IGNORED)
                parts.append((ts[keep], sid[keep], values[keep]))
        t = np.concatenate([p[0] for p in parts])
        s = np.concatenate([p[1] for p in parts]).astype(np.int32)
        v = np.concatenate([p[2] for p in parts])
        return Frame.from_unsorted(t, s, v, self.registry.table())


class StepFeed:
    """Step records a simulation emitted since the last call, time-ordered."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self._next = 0

    def new_steps(self) -> StepRecords | None:
        """Records of the steps completed since the last call (None if none)."""
        chunks = self.sim.step_log.chunks[self._next:]
        if not chunks:
            return None
        self._next += len(chunks)
        ts, job, step, rank, node, gpu, comp, comm = (
            np.concatenate([c[i] for c in chunks]) for i in range(8))
        order = np.argsort(ts, kind="stable")
        topo = self.sim.topology
        return StepRecords(ts[order], job[order].astype(np.int32), step[order],
                           rank[order].astype(np.int32), node[order].astype(np.int32),
                           topo.gpu_local[gpu[order]].astype(np.int32), comp[order],
                           comm[order], np.full(len(ts), -1, np.int32),
                           tuple(j.spec.name for j in self.sim.jobs))
