"""Labels of every simulated series, exactly as the real exporters write them.

dcgm-exporter (4.x up to 4.5): ``gpu``, ``UUID``, ``pci_bus_id``, ``device``,
``modelName``, ``Hostname``, ``DCGM_FI_DRIVER_VERSION``. node_exporter's
infiniband collector: ``device``, ``port``, plus the ``instance`` and ``job``
labels Prometheus attaches at scrape time. infiniband_exporter (switch side):
``guid``, ``port``, ``switch``. Label strings are built once per run; the
writers only glue values and timestamps onto them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from brownout.sim.fabric import PortMap
from brownout.topology.model import Topology

I32 = npt.NDArray[np.int32]

DRIVER_VERSION = "550.90.07"
PCI_BUSES = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")


def gpu_uuid(cluster: str, name: str) -> str:
    """A stable, UUID-shaped GPU identifier derived from its topology name."""
    h = hashlib.sha256(f"{cluster}/{name}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def switch_guid(name: str) -> str:
    """A stable 64-bit GUID for a switch, as infiniband_exporter prints it."""
    return "0x" + hashlib.sha256(name.encode()).hexdigest()[:16]


def _text(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


@dataclass(frozen=True)
class SimLabels:
    """Label dicts and pre-rendered label text for GPUs, NICs and switch ports."""

    gpu: tuple[dict[str, str], ...]
    nic: tuple[dict[str, str], ...]
    port: tuple[dict[str, str], ...]
    gpu_text: tuple[str, ...]
    nic_text: tuple[str, ...]
    port_text: tuple[str, ...]
    gpu_node: I32
    nic_node: I32
    port_switch: I32

    def dicts(self, group: str) -> tuple[dict[str, str], ...]:
        return {"gpu": self.gpu, "nic": self.nic, "port": self.port}[group]


def build_labels(topo: Topology, ports: PortMap) -> SimLabels:
    """Labels for every series of the simulated cluster."""
    gpus = tuple(_gpu_labels(topo, g) for g in range(topo.n_gpus))
    nics = tuple({"device": topo.nic_device[k], "port": "1",
                  "instance": f"{topo.nodes[topo.nic_node[k]].name}:9100", "job": "node"}
                 for k in range(topo.n_nics))
    prt = tuple({"guid": switch_guid(topo.switches[s].name), "port": str(int(n)),
                 "switch": topo.switches[s].name}
                for s, n in zip(ports.switch, ports.number, strict=True))
    return SimLabels(gpus, nics, prt, tuple(map(_text, gpus)), tuple(map(_text, nics)),
                     tuple(map(_text, prt)), topo.gpu_node.copy(), topo.nic_node.copy(),
                     ports.switch.copy())


def _gpu_labels(topo: Topology, g: int) -> dict[str, str]:
    node = topo.nodes[topo.gpu_node[g]]
    local = int(topo.gpu_local[g])
    bus = PCI_BUSES[local % len(PCI_BUSES)]
    return {"gpu": str(local), "UUID": gpu_uuid(topo.name, topo.gpu_name(g)),
            "pci_bus_id": f"00000000:{bus}:00.0", "device": f"nvidia{local}",
            "modelName": node.gpu_model, "Hostname": node.name,
            "DCGM_FI_DRIVER_VERSION": DRIVER_VERSION}
