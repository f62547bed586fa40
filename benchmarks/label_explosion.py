"""Label explosion: a million distinct series through the file reader, with bounded caches.

Writes one OpenMetrics recording of ``--series`` lines whose label sets are
all different (half: a ``pod`` label exploding on one real GPU temperature
series; half: an unknown metric with an exploding label), reads it with the
real reader, and reports the time, peak memory (VmHWM) and the sizes of the
key caches, which must stay bounded (``MAX_KEY_CACHE``). Then a second check
with the legitimate series of a large cluster (every GPU and NIC of
``--gpus`` GPUs, read twice like two scrapes): their keys must stay cached
(no cache reset), the bound growing with the registry.

Run:  python benchmarks/label_explosion.py                 (1,000,000 series)
      python benchmarks/label_explosion.py --series 100000 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from brownout.telemetry import series as series_mod
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.files import read_recording
from brownout.topology.generate import generate_topology

T0 = 1_764_000_000


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def explosion(n: int, tmp: Path) -> dict[str, Any]:
    path = tmp / "explode.om"
    half = n // 2
    with path.open("w") as fh:
        fh.write("# TYPE DCGM_FI_DEV_GPU_TEMP gauge\n")
        fh.writelines(f'DCGM_FI_DEV_GPU_TEMP{{gpu="1",Hostname="n0001",pod="p{i}"}} 50 {T0 + i}\n'
                      for i in range(half))
        fh.write("# TYPE some_app_metric gauge\n")
        fh.writelines(f'some_app_metric{{request_id="r{i}",Hostname="n0001"}} 1 {T0 + i}\n'
                      for i in range(n - half))
        fh.write("# EOF\n")
    reg = SeriesRegistry(generate_topology(1))
    t0 = time.perf_counter()
    frame, problems = read_recording([path], reg)
    return {"series_lines": n, "file_mb": round(path.stat().st_size / 2**20, 1),
            "read_s": round(time.perf_counter() - t0, 2), "samples_kept": len(frame),
            "series_registered": len(frame.table), "malformed": problems.malformed_count,
            "registry_key_cache": len(reg._by_key), "key_cache_limit": reg.key_cache_limit,
            "key_cache_resets": reg.key_cache_resets, "max_key_cache": series_mod.MAX_KEY_CACHE,
            "vmhwm_mb_after_explosion": round(_hwm_mb(), 0)}


def large_cluster(gpus: int, tmp: Path) -> dict[str, Any]:
    topo = generate_topology(gpus // 8)
    lines = [f'DCGM_FI_DEV_GPU_TEMP{{gpu="{g}",Hostname="{n.name}"}} 50'
             for n in topo.nodes for g in range(8)]
    lines += [f'DCGM_FI_DEV_POWER_USAGE{{gpu="{g}",Hostname="{n.name}"}} 500'
              for n in topo.nodes for g in range(8)]
    lines += [f'node_infiniband_port_data_transmitted_bytes_total{{device="mlx5_{d}",port="1",'
              f'instance="{n.name}:9100"}} 1' for n in topo.nodes for d in range(8)]
    reg = SeriesRegistry(topo)
    out: dict[str, Any] = {"gpus": gpus, "series": len(lines)}
    for k in range(2):
        path = tmp / f"scrape{k}.om"
        path.write_text("".join(f"{x} {T0 + 15 * k}\n" for x in lines) + "# EOF\n")
        t0 = time.perf_counter()
        frame, _ = read_recording([path], reg)
        out[f"read{k}_s"] = round(time.perf_counter() - t0, 2)
        out[f"samples{k}"] = len(frame)
    out["key_cache_resets"] = reg.key_cache_resets
    out["registry_key_cache"] = len(reg._by_key)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=1_000_000)
    ap.add_argument("--gpus", type=int, default=16384)
    ap.add_argument("--max-key-cache", type=int, default=None,
                    help="override MAX_KEY_CACHE (to exercise the bound at small sizes)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.max_key_cache:
        from brownout.telemetry import parse
        series_mod.MAX_KEY_CACHE = parse.MAX_KEY_CACHE = args.max_key_cache
    with tempfile.TemporaryDirectory() as d:
        fig = {"explosion": explosion(args.series, Path(d)),
               "large_cluster": large_cluster(args.gpus, Path(d))}
    e, c = fig["explosion"], fig["large_cluster"]
    ok = (e["registry_key_cache"] <= e["key_cache_limit"] and e["series_registered"] == 1
          and e["malformed"] == 0 and c["key_cache_resets"] == 0
          and c["samples0"] == c["samples1"] == c["series"])
    fig["ok"] = ok
    print(json.dumps(fig) if args.json else json.dumps(fig, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
