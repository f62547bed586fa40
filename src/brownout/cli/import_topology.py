"""``brownout import-topology``: what operators already have -> a topology file.

Three sources: Slurm (``topology.conf`` of the tree or block plugin, or saved
``scontrol show topology`` output, plus, optionally, ``scontrol show nodes``
output for GPU counts), Kubernetes (``kubectl get nodes -o json``) and the
Crux CSV. The result is validated like any topology file and written
atomically; a summary line goes to stdout, warnings to stderr.
"""

from __future__ import annotations

import click

from brownout.errors import InputError
from brownout.topology.loader import write_topology
from brownout.topology.model import Topology

SOURCES = ("slurm", "k8s", "crux")


def _need(value: str | None, flag: str, source: str) -> str:
    if not value:
        raise InputError(f"--from {source} needs {flag}")
    return value


def _warn(message: str) -> None:
    click.echo(f"brownout: warning: {message}", err=True)


def _names(names: tuple[str, ...], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _from_slurm(confs: tuple[str, ...], scontrol: str | None, name: str, *, gpus: int,
                rack_feature: str, cooling_feature: str) -> Topology:
    from brownout.topology.scontrol_nodes import import_slurm_cluster, read_scontrol_nodes

    nodes = read_scontrol_nodes(scontrol) if scontrol else None
    conf = ", ".join(confs)
    result = import_slurm_cluster(confs, nodes, cluster=name, gpus=gpus,
                                  rack_feature=rack_feature, cooling_feature=cooling_feature)
    if result.not_in_tree:
        _warn(f"{len(result.not_in_tree)} node(s) of {scontrol} are not in {conf} and were "
              f"left out: {_names(result.not_in_tree)}")
    if result.not_listed:
        _warn(f"{len(result.not_listed)} node(s) of {conf} are not in {scontrol}; they keep "
              f"--gpus {gpus}: {_names(result.not_listed)}")
    return result.topology


def _from_k8s(nodes_json: str, name: str, *, leaf: tuple[str, ...], spine: tuple[str, ...],
              rack: tuple[str, ...], cooling: tuple[str, ...], nvlink: tuple[str, ...],
              include_cpu: bool) -> Topology:
    from brownout.topology.k8s_labels import LabelKeys, import_k8s_nodes, read_node_list

    defaults = LabelKeys()
    keys = LabelKeys(leaf=leaf or defaults.leaf, spine=spine or defaults.spine,
                     rack=rack or defaults.rack, cooling=cooling or defaults.cooling,
                     nvlink=nvlink or defaults.nvlink)
    result = import_k8s_nodes(read_node_list(nodes_json), cluster=name, keys=keys,
                              include_cpu_nodes=include_cpu, where=nodes_json)
    if result.skipped_no_gpu:
        _warn(f"{len(result.skipped_no_gpu)} node(s) without GPUs left out "
              f"(--include-cpu-nodes keeps them): {_names(result.skipped_no_gpu)}")
    return result.topology


@click.command("import-topology")
@click.option("--from", "source", required=True, type=click.Choice(SOURCES),
              help="What to import.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Topology YAML to write.")
@click.option("--name", default=None, help="Cluster name (default: the source kind).")
@click.option("--topology-conf", type=click.Path(dir_okay=False), multiple=True,
              help="slurm: topology.conf (tree or block plugin) or saved `scontrol show "
              "topology` output; repeat to merge a tree and a block file.")
@click.option("--scontrol-nodes", type=click.Path(dir_okay=False),
              help="slurm: saved output of `scontrol show nodes` (text or --json).")
@click.option("--gpus", default=8, show_default=True, type=click.IntRange(0, 64),
              help="slurm/crux: GPUs per node where the input does not say.")
@click.option("--rack-feature", default="",
              help="slurm: node feature prefix naming the rack (e.g. 'rack').")
@click.option("--cooling-feature", default="",
              help="slurm: node feature prefix naming the cooling domain.")
@click.option("--nodes-json", type=click.Path(dir_okay=False),
              help="k8s: saved output of `kubectl get nodes -o json`.")
@click.option("--leaf-label", multiple=True, help="k8s: label key naming the leaf switch "
              "(repeatable, first present wins; replaces the defaults).")
@click.option("--spine-label", multiple=True, help="k8s: label key naming the spine switch.")
@click.option("--rack-label", multiple=True, help="k8s: label key naming the rack.")
@click.option("--cooling-label", multiple=True, help="k8s: label key naming the cooling domain.")
@click.option("--nvlink-label", multiple=True, help="k8s: label key naming the rack-scale "
              "NVLink domain (default: Topograph's accelerator labels, then "
              "nvidia.com/gpu.clique).")
@click.option("--include-cpu-nodes", is_flag=True, help="k8s: keep nodes without GPUs.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="crux: the Crux topology CSV (ip,DSW,PSW,ASW).")
def command(  # noqa: PLR0917 - click passes every option positionally
            source: str, out: str, name: str | None, topology_conf: tuple[str, ...],
            scontrol_nodes: str | None, gpus: int, rack_feature: str, cooling_feature: str,
            nodes_json: str | None, leaf_label: tuple[str, ...], spine_label: tuple[str, ...],
            rack_label: tuple[str, ...], cooling_label: tuple[str, ...],
            nvlink_label: tuple[str, ...], include_cpu_nodes: bool, csv_path: str | None) -> int:
    """Import a Slurm, Kubernetes or Crux description into a topology file."""
    cluster = name or source
    if source == "slurm":
        _need(",".join(topology_conf), "--topology-conf", source)
        topo = _from_slurm(topology_conf, scontrol_nodes,
                           cluster, gpus=gpus, rack_feature=rack_feature,
                           cooling_feature=cooling_feature)
    elif source == "k8s":
        topo = _from_k8s(_need(nodes_json, "--nodes-json", source), cluster, leaf=leaf_label,
                         spine=spine_label, rack=rack_label, cooling=cooling_label,
                         nvlink=nvlink_label, include_cpu=include_cpu_nodes)
    else:
        from brownout.topology.crux import import_crux

        topo = import_crux(_need(csv_path, "--csv", source), cluster=cluster, gpus=gpus)
    write_topology(topo, out)
    click.echo(f"wrote {out}: {topo.n_nodes} nodes, {topo.n_gpus} GPUs, "
               f"{len(topo.switches)} switches, "
               f"{len({n.rack for n in topo.nodes})} racks"
               + (f", {len(topo.nvlink_domains)} NVLink domains" if topo.nvlink_domains else ""))
    return 0
