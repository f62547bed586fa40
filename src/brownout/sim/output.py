"""Write a run's outputs: topology, metrics, step log, truth (spec/cli.md).

``DIR/topology.yaml``, ``DIR/metrics/<node>.om`` (dcgm-exporter and
node_exporter series of that node), ``DIR/metrics/fabric.om`` (switch ports),
``DIR/steps.jsonl``, ``DIR/truth.jsonl``, plus two extras the contract allows:
``DIR/confounders.jsonl`` (what happened that is not a fault) and
``DIR/summary.json``. Every file is written atomically.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from brownout.atomic import atomic_write_bytes, atomic_write_text
from brownout.findings import write_truth
from brownout.sim.openmetrics import family_block, stamp_strings
from brownout.sim.recording import GPU_METRICS, NIC_METRICS, PORT_METRICS, Recording
from brownout.telemetry.steps import StepRecords
from brownout.topology.loader import write_topology
from brownout.topology.model import Topology

STEP_FMT = ('{"ts": %.3f, "job": "%s", "step": %d, "rank": %d, "node": "%s", "gpu": %d, '
            '"compute_s": %.4f, "comm_s": %.4f}')
STAGE_FMT = STEP_FMT[:-1] + ', "stage": %d}'


def write_metrics(rec: Recording, topo: Topology, labels: Any, out: Path, *,
                  progress: Callable[[float], None] | None = None, compress: bool = True) -> int:
    """Write one OpenMetrics file per node and ``fabric.om``; returns sample lines.

    With ``compress`` (the default) files are gzip-compressed (``n0001.om.gz``):
    the text repeats long label sets and shrinks about twentyfold.
    """
    suffix = ".om.gz" if compress else ".om"
    out.mkdir(parents=True, exist_ok=True)
    if not len(rec):
        return 0
    gpu = {m: rec.matrix("gpu", m) for m in GPU_METRICS}
    nic = {m: rec.matrix("nic", m) for m in NIC_METRICS}
    gts, nts = rec.stamps("gpu"), rec.stamps("nic")
    # zlib and file I/O release the GIL: compress and write while the next node formats
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: list[Future[int]] = []
        for n, node in enumerate(topo.nodes):
            text = _node_lines(n, gpu, nic, (gts, nts), topo=topo, labels=labels)
            pending.append(pool.submit(_write_om, out / f"{node.name}{suffix}", text))
            if progress is not None and n % 8 == 0:
                progress(n / topo.n_nodes)
        pending.append(pool.submit(_write_om, out / f"fabric{suffix}", _fabric_lines(rec, labels)))
        return sum(f.result() for f in pending)


def _node_lines(n: int, gpu: dict[str, Any], nic: dict[str, Any], stamps: tuple[Any, Any], *,
                topo: Topology, labels: Any) -> list[str]:
    """Every family of one node (dcgm-exporter, then node_exporter)."""
    gsl = slice(int(topo.gpu_offset[n]), int(topo.gpu_offset[n + 1]))
    nics = np.flatnonzero(topo.nic_node == n)
    g_stamp, n_stamp = stamp_strings(stamps[0][:, n]), stamp_strings(stamps[1][:, n])
    text: list[str] = []
    for m in GPU_METRICS:
        text += family_block(m, labels.gpu_text[gsl], gpu[m][:, gsl],
                             [g_stamp] * (gsl.stop - gsl.start))
    for m in NIC_METRICS:
        text += family_block(m, [labels.nic_text[k] for k in nics], nic[m][:, nics],
                             [n_stamp] * len(nics))
    return text


def _fabric_lines(rec: Recording, labels: Any) -> list[str]:
    pts = rec.stamps("port")
    sw_stamps = [stamp_strings(pts[:, s]) for s in range(pts.shape[1])]
    per_port = [sw_stamps[s] for s in labels.port_switch.tolist()]
    text: list[str] = []
    for m in PORT_METRICS:
        text += family_block(m, labels.port_text, rec.matrix("port", m), per_port)
    return text


def _write_om(path: Path, lines: list[str]) -> int:
    """Write one file (``# EOF`` appended); returns its number of samples."""
    families = sum(1 for ln in lines if ln[0] == "#")
    lines.append("# EOF")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=1, mtime=0)
    atomic_write_bytes(path, data)
    return len(lines) - 1 - families


def write_steps(steps: StepRecords, topo: Topology, path: Path) -> None:
    """The step-time log, one JSON object per rank per step, time-ordered."""
    names = np.array([n.name for n in topo.nodes] + [""], dtype=object)
    jobs = np.array(steps.jobs or ("",), dtype=object)
    rows = zip(steps.ts.tolist(), jobs[steps.job].tolist(), steps.step.tolist(),
               steps.rank.tolist(), names[steps.node].tolist(), steps.gpu.tolist(),
               steps.compute_s.tolist(), steps.comm_s.tolist(), steps.stage.tolist(), strict=True)
    text = "\n".join(STAGE_FMT % r if r[8] >= 0 else STEP_FMT % r[:8] for r in rows)
    atomic_write_text(path, text + "\n" if text else "")


def write_json(obj: Any, path: Path) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    atomic_write_text(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows))


def write_common(topo: Topology, truth: list[Any], out: Path) -> None:
    """The topology and truth files every run writes."""
    out.mkdir(parents=True, exist_ok=True)
    write_topology(topo, out / "topology.yaml")
    write_truth(truth, out / "truth.jsonl")
