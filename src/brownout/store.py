"""The embedded store (DuckDB): recordings imported once and re-read fast, findings.

A recording is kept with its own series table (metric, entity, component,
port, node), so it re-reads into a :class:`Frame` without parsing text again.
Writes happen inside one transaction: a failed import leaves nothing behind.
The policy journal lives in its own module (``brownout.policy.journal``).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from brownout.errors import InputError
from brownout.findings import Finding
from brownout.telemetry.frame import Frame, SeriesTable
from brownout.telemetry.series import SeriesRegistry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    name VARCHAR PRIMARY KEY, cluster VARCHAR, n_samples BIGINT,
    start_s DOUBLE, end_s DOUBLE, problems JSON);
CREATE TABLE IF NOT EXISTS series (
    recording VARCHAR, series INTEGER, metric SMALLINT, entity TINYINT,
    component INTEGER, port INTEGER, node INTEGER);
CREATE TABLE IF NOT EXISTS samples (
    recording VARCHAR, t_s DOUBLE, series INTEGER, value DOUBLE);
CREATE TABLE IF NOT EXISTS findings (
    id VARCHAR PRIMARY KEY, kind VARCHAR, component VARCHAR, component_type VARCHAR,
    onset DOUBLE, detected_at DOUBLE, resolved_at DOUBLE, confidence DOUBLE,
    severity VARCHAR, summary VARCHAR, evidence JSON, recommended_action VARCHAR);
"""


class Store:
    """A DuckDB database file (or ``:memory:``).

    Args:
        path: database file; created with its schema when absent.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        try:
            self.con = duckdb.connect(self.path)
            self.con.execute(_SCHEMA)
        except duckdb.Error as exc:
            raise InputError(f"{self.path}: cannot open store ({exc})") from exc

    def close(self) -> None:
        self.con.close()

    # recordings --------------------------------------------------------------
    def save_recording(self, name: str, cluster: str, frame: Frame,
                       problems: dict[str, Any] | None = None) -> None:
        """Store a frame under ``name``, replacing any recording of that name, atomically."""
        tab = frame.table
        series = {"recording": np.full(len(tab), name, dtype=object),
                  "series": np.arange(len(tab), dtype=np.int32), "metric": tab.metric,
                  "entity": tab.entity, "component": tab.component, "port": tab.port,
                  "node": tab.node}
        samples = {"t_s": frame.t_s, "series": frame.series, "value": frame.value}
        meta = [name, cluster, len(frame), frame.start_s if len(frame) else None,
                frame.end_s if len(frame) else None, json.dumps(problems or {})]
        try:
            self._save(name, meta, series, samples)
        except duckdb.Error as exc:  # disk full, read-only file: one clear line, nothing kept
            raise InputError(f"{self.path}: cannot write recording '{name}' "
                             f"({_one_line(exc)})") from exc

    def _save(self, name: str, meta: list[Any], series: dict[str, Any],
              samples: dict[str, Any]) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for table in ("recordings", "series", "samples"):
                key = "name" if table == "recordings" else "recording"
                con.execute(f"DELETE FROM {table} WHERE {key} = ?", [name])  # noqa: S608
            con.execute("INSERT INTO recordings VALUES (?, ?, ?, ?, ?, ?)", meta)
            con.register("_series_in", series)
            con.execute("INSERT INTO series SELECT * FROM _series_in")
            con.register("_samples_in", samples)
            con.execute("INSERT INTO samples SELECT ?, t_s, series, value FROM _samples_in",
                        [name])
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed write may have ended it already
                con.execute("ROLLBACK")
            raise
        finally:
            for view in ("_series_in", "_samples_in"):
                con.unregister(view)

    def recordings(self) -> list[dict[str, Any]]:
        """Name, cluster, sample count and time span of every stored recording."""
        rows = self.con.execute(
            "SELECT name, cluster, n_samples, start_s, end_s FROM recordings ORDER BY name"
        ).fetchall()
        keys = ("name", "cluster", "n_samples", "start_s", "end_s")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def load_recording(self, name: str, registry: SeriesRegistry | None = None) -> Frame:
        """Re-read a stored recording as a time-ordered frame.

        With a ``registry``, series are re-keyed to that registry's ids (so a
        stored recording can join live sources); otherwise the stored table is used.
        """
        if not self.con.execute("SELECT 1 FROM recordings WHERE name = ?", [name]).fetchall():
            raise InputError(f"{self.path}: no recording named '{name}'")
        s = self.con.execute("SELECT metric, entity, component, port, node FROM series "
                             "WHERE recording = ? ORDER BY series", [name]).fetchnumpy()
        table = SeriesTable(s["metric"].astype(np.int16), s["entity"].astype(np.int8),
                            s["component"].astype(np.int32), s["port"].astype(np.int32),
                            s["node"].astype(np.int32))
        d = self.con.execute("SELECT t_s, series, value FROM samples WHERE recording = ? "
                             "ORDER BY t_s, series", [name]).fetchnumpy()
        frame = Frame(d["t_s"].astype(np.float64), d["series"].astype(np.int32),
                      d["value"].astype(np.float64), table)
        return frame if registry is None else _rekey(frame, registry)

    # findings ----------------------------------------------------------------
    def upsert_finding(self, f: Finding, resolved_at: float | None = None) -> None:
        """Insert or update a finding (its lifecycle: opened, updated, resolved).

        Raises:
            InputError: the store cannot be written (disk full, read-only).
        """
        try:
            self.con.execute(
                "INSERT OR REPLACE INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [f.id, f.kind, f.component, f.component_type, f.onset, f.detected_at,
                 resolved_at, f.confidence, f.severity, f.summary, json.dumps(f.evidence),
                 f.recommended_action])
        except duckdb.Error as exc:
            raise InputError(f"{self.path}: cannot write finding {f.id} "
                             f"({_one_line(exc)})") from exc

    def findings(self, kind: str | None = None, *, open_only: bool = False) -> list[Finding]:
        """Stored findings, optionally of one kind or only those not resolved, in
        detection order."""
        sql = ("SELECT id, kind, component, component_type, onset, detected_at, confidence, "
               "severity, summary, evidence, recommended_action FROM findings "
               "WHERE (resolved_at IS NULL OR NOT ?) AND (kind = ? OR ? IS NULL) "
               "ORDER BY detected_at")
        rows = self.con.execute(sql, [open_only, kind, kind]).fetchall()
        return [Finding(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]),
                        r[10]) for r in rows]

    def finding_ids(self) -> list[str]:
        """The id of every stored finding."""
        return [r[0] for r in self.con.execute("SELECT id FROM findings").fetchall()]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _rekey(frame: Frame, registry: SeriesRegistry) -> Frame:
    """Map a frame's series onto ``registry`` ids (same topology)."""
    from brownout.telemetry.metrics import METRICS, Entity
    from brownout.topology.model import Topology

    topo: Topology = registry.topology
    tab = frame.table
    mapping = np.empty(len(tab), dtype=np.int32)
    for i in range(len(tab)):
        ent, comp = Entity(int(tab.entity[i])), int(tab.component[i])
        labels = _labels_for(topo, ent, comp, int(tab.port[i]))
        mapping[i] = registry.id_for(METRICS[int(tab.metric[i])].name, labels)
    sid = mapping[frame.series]
    keep = sid >= 0
    return Frame(frame.t_s[keep], sid[keep], frame.value[keep], registry.table())


def _labels_for(topo: Any, ent: Any, comp: int, port: int) -> dict[str, str]:
    from brownout.telemetry.metrics import Entity

    if ent is Entity.GPU:
        return {"Hostname": topo.nodes[topo.gpu_node[comp]].name, "gpu": str(topo.gpu_local[comp])}
    if ent is Entity.NIC:
        return {"Hostname": topo.nodes[topo.nic_node[comp]].name, "device": topo.nic_device[comp]}
    return {"switch": topo.switches[comp].name, "port": str(port)}
