"""Parse throughput of recorded telemetry vs prometheus_client's parser.

Writes a 1-million-line dcgm-exporter-style OpenMetrics file (256 GPUs x 12
metrics x scrapes), parses it with brownout's reader and with
``prometheus_client.parser.text_string_to_metric_families`` in the same run,
and prints samples/s of each, the ratio, and brownout's peak resident memory
(measured in a fresh subprocess).

Run: python benchmarks/bench_parse.py [--lines N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from brownout.topology.generate import generate_topology

METRICS = [
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "{:.0f}"), ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "{:.0f}"),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "{:.3f}"), ("DCGM_FI_DEV_SM_CLOCK", "gauge", "{:.0f}"),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "{:.0f}"), ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "gauge", "0"),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "0"),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "{:.4f}"),
    ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "{:.0f}"),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "0"),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "{:.0f}"),
    ("DCGM_FI_DEV_THERMAL_VIOLATION", "counter", "{:.0f}"),
]
N_NODES = 32


def write_file(path: Path, n_lines: int) -> int:
    """Write the benchmark file; returns the number of sample lines."""
    per_scrape = N_NODES * 8 * len(METRICS)
    scrapes = max(1, n_lines // per_scrape)
    with path.open("w") as fh:
        for k, (name, kind, _fmt) in enumerate(METRICS):
            fh.write(f"# HELP {name} DCGM metric {k}.\n# TYPE {name} {kind}\n")
        for s in range(scrapes):
            t = 1_764_000_000 + 30 * s + 0.123
            for n in range(N_NODES):
                host = f"n{n + 1:04d}"
                for g in range(8):
                    labels = (f'gpu="{g}",UUID="GPU-{n:04x}{g:04x}-0da5-6d26-a36a-e7af1ce2586e",'
                              f'pci_bus_id="00000000:{0x18 + g:02X}:00.0",device="nvidia{g}",'
                              f'modelName="NVIDIA H100 80GB HBM3",Hostname="{host}",'
                              f'DCGM_FI_DRIVER_VERSION="550.54.15"')
                    for name, _kind, fmt in METRICS:
                        val = fmt.format(40 + (s * 7 + g * 3 + n) % 30)
                        fh.write(f"{name}{{{labels}}} {val} {t:.3f}\n")
        fh.write("# EOF\n")
    return scrapes * per_scrape


def bench_brownout(path: Path) -> tuple[float, int]:
    from brownout.telemetry.series import SeriesRegistry
    from brownout.telemetry.sources.files import read_recording

    registry = SeriesRegistry(generate_topology(N_NODES))
    t0 = time.perf_counter()
    frame, _ = read_recording([path], registry)
    return time.perf_counter() - t0, len(frame)


def bench_peer(path: Path, max_lines: int) -> tuple[float, int]:
    """prometheus_client on the first ``max_lines`` lines (its rate is per-line steady)."""
    from prometheus_client.parser import text_string_to_metric_families

    with path.open() as fh:
        text = "".join(line for _, line in zip(range(max_lines), fh, strict=False))
    t0 = time.perf_counter()
    n = sum(len(fam.samples) for fam in text_string_to_metric_families(text))
    return time.perf_counter() - t0, n


def rss_child(path: Path) -> float:
    """Peak RSS (MB) of a fresh process that reads the recording."""
    # VmHWM, not ru_maxrss: the latter keeps the forked parent's size across exec
    code = ("import sys;from brownout.telemetry.series import SeriesRegistry;"
            "from brownout.telemetry.sources.files import read_recording;"
            "from brownout.topology.generate import generate_topology;"
            f"f,_=read_recording([sys.argv[1]],SeriesRegistry(generate_topology({N_NODES})));"
            "hwm=[ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0];"
            "print(int(hwm.split()[1])/1024)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--peer-lines", type=int, default=200_000,
                    help="lines given to prometheus_client (it is slow; rate is per line)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dcgm.om"
        n = write_file(path, args.lines)
        bt, bn = bench_brownout(path)
        pt, pn = bench_peer(path, args.peer_lines)
        rss = rss_child(path)
    ours, peer = bn / bt, pn / pt
    print(f"file: {n:,} sample lines, {path.name}")
    print(f"brownout        : {bn:,} samples in {bt:.2f} s = {ours / 1e6:.2f} M samples/s")
    print(f"prometheus_client: {pn:,} samples in {pt:.2f} s = {peer / 1e6:.3f} M samples/s")
    print(f"ratio brownout/prometheus_client: {ours / peer:.1f}x (target >= 20x)")
    print(f"throughput target >= 1.5 M samples/s: {'met' if ours >= 1.5e6 else 'NOT met'}")
    print(f"peak RSS reading the recording: {rss:.0f} MB (target < 200 MB)")


if __name__ == "__main__":
    main()
