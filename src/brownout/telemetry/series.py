"""Map raw series (metric name and labels) to topology components.

A :class:`SeriesRegistry` gives every distinct (metric, component, port) one
series id, whatever label variants name it (``Hostname`` vs ``hostname``, extra
``pod`` labels, the throttle-reasons alias). Unknown nodes and components are
counted, never fatal; metrics outside the catalogue are ignored.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from brownout.telemetry.frame import SeriesTable
from brownout.telemetry.labels import node_of, parse_series_key
from brownout.telemetry.metrics import BY_NAME, Entity
from brownout.topology.model import Topology

IGNORED = -1  # a series outside the catalogue or outside the topology
MAX_KEY_CACHE = 200_000  # raw label sets remembered; a label explosion resets it, bounded


class SeriesRegistry:
    """Assigns series ids; shared by every source that feeds one engine.

    Args:
        topology: the cluster whose components series are keyed to.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._by_key: dict[str, int] = {}
        self.key_cache_resets = 0
        self._by_identity: dict[tuple[int, int, int, int], int] = {}
        self._rows: list[tuple[int, int, int, int, int]] = []
        self.unknown_nodes: Counter[str] = Counter()
        self.unknown_components: Counter[str] = Counter()
        self.gpu_models: dict[int, str] = {}  # node index -> dcgm-exporter's modelName
        self._table: SeriesTable | None = None

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def key_cache_limit(self) -> int:
        """Raw keys remembered before the cache is reset.

        Grows with the series registered, so a large cluster's real series
        (each its own id; 327,680 for 16,384 GPUs) stay cached from scrape to
        scrape, while an explosion of label sets that map to few series (or to
        none) still resets it at :data:`MAX_KEY_CACHE`.
        """
        return MAX_KEY_CACHE + 2 * len(self._rows)

    def id_for_key(self, key: str) -> int:
        """Series id of a raw series key (parsed once, then cached).

        Raises:
            brownout.telemetry.labels.LabelError: for a malformed key.
        """
        sid = self._by_key.get(key)
        if sid is None:
            name, labels = parse_series_key(key)
            sid = self.id_for(name, labels)
            if len(self._by_key) >= self.key_cache_limit:
                self._by_key.clear()
                self.key_cache_resets += 1
            self._by_key[key] = sid
        return sid

    def id_for(self, name: str, labels: dict[str, str]) -> int:
        """Series id of a metric name and its labels, or :data:`IGNORED`."""
        mdef = BY_NAME.get(name)
        if mdef is None:
            return IGNORED
        ident = self._identity(mdef.entity, labels)
        if ident is None:
            return IGNORED
        component, port, node = ident
        full = (mdef.id, int(mdef.entity), component, port)
        sid = self._by_identity.get(full)
        if sid is None:
            sid = len(self._rows)
            self._by_identity[full] = sid
            self._rows.append((mdef.id, int(mdef.entity), component, port, node))
            self._table = None
        return sid

    def _identity(self, entity: Entity, labels: dict[str, str]) -> tuple[int, int, int] | None:
        topo = self.topology
        if entity is Entity.SWITCH_PORT:
            sw = labels.get("switch", "")
            s = topo.switch_index.get(sw)
            port = labels.get("port", "")
            if s is None or not port.isdigit():
                self.unknown_components[f"switch {sw or '?'} port {port or '?'}"] += 1
                return None
            return s, int(port), -1
        host = node_of(labels)
        n = topo.node_index.get(host) if host else None
        if n is None:
            self.unknown_nodes[host or "<no host label>"] += 1
            return None
        if entity is Entity.GPU:
            gpu = labels.get("gpu", "")
            g = topo.gpu_id(n, int(gpu)) if gpu.isdigit() else -1
            if g < 0:
                self.unknown_components[f"{host}/gpu{gpu}"] += 1
                return None
            if labels.get("modelName"):
                self.gpu_models.setdefault(n, labels["modelName"])
            return g, -1, n
        dev = labels.get("device", "")
        nic = topo.nic_index.get((n, dev))
        if nic is None:
            self.unknown_components[f"{host}/{dev}"] += 1
            return None
        return nic, -1, n

    def table(self) -> SeriesTable:
        """The series table as it stands (cached until a new series appears)."""
        if self._table is None:
            rows = np.array(self._rows, dtype=np.int64).reshape(-1, 5)
            self._table = SeriesTable(
                metric=rows[:, 0].astype(np.int16), entity=rows[:, 1].astype(np.int8),
                component=rows[:, 2].astype(np.int32), port=rows[:, 3].astype(np.int32),
                node=rows[:, 4].astype(np.int32),
            )
        return self._table
