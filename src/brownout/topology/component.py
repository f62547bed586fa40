"""Component identifiers (spec/topology.md): one parser instead of string splits.

Findings, actions and ground truth name components as ``n0007/gpu3`` (a GPU),
``n0007/mlx5_3`` (a NIC) or a bare name (a node, switch, cooling domain, rack,
NVLink domain, the cluster, or ``rank14``). :class:`ComponentRef` takes one
apart once; what a bare name is needs the component type or the topology.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GPU_PART = re.compile(r"gpu(\d+)\Z")


@dataclass(frozen=True)
class ComponentRef:
    """A parsed component identifier.

    Attributes:
        text: the identifier as given.
        host: the part before ``/`` (the node of a GPU or NIC), or the whole bare name.
        part: the part after ``/`` (``gpu3``, ``mlx5_3``), or ``""`` for a bare name.
    """

    text: str
    host: str
    part: str = ""

    @classmethod
    def parse(cls, text: str) -> ComponentRef:
        host, _, part = text.partition("/")
        return cls(text, host, part)

    @property
    def on_node(self) -> bool:
        """True for a part of a node (a GPU or a NIC)."""
        return bool(self.part)

    @property
    def gpu(self) -> int | None:
        """The GPU index of ``<node>/gpu<i>``, else None."""
        m = _GPU_PART.match(self.part)
        return int(m.group(1)) if m else None

    def node(self, component_type: str = "") -> str:
        """The node this component lives on, or ``""`` (a switch, cooling domain, rack).

        Args:
            component_type: the finding's component type; a bare name is a node
                only when this says ``node``.
        """
        if self.part:
            return self.host
        return self.host if component_type == "node" else ""


def node_of(component: str, component_type: str = "") -> str:
    """The node ``component`` lives on, or ``""`` (see :meth:`ComponentRef.node`)."""
    return ComponentRef.parse(component).node(component_type)


def host_of(component: str) -> str:
    """The node of a GPU or NIC identifier, or a bare identifier itself."""
    return ComponentRef.parse(component).host
