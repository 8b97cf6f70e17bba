"""Benchmark: snapshot throughput of a 1 GiB volume against `qemu-img convert` of the same file.

The volume is 1 GiB of random data (nothing for sparseness to skip),
attached to a running tiny instance. Runs alternate: the baseline
``qemu-img convert -U -f qcow2 -O qcow2 <volume> <copy>`` (what copying the
file costs, -U because QEMU holds it) and ``Snapshots.create`` of the
attached volume (freeze, copy, merge back: the whole crash-consistent
snapshot), then the same snapshot of the volume detached. Outputs are
flushed and deleted between runs, so each run writes 1 GiB afresh; the
source is read from the page cache by all alike. Throughput is the volume's
size over the wall time; medians are compared.

    PYTHONPATH=. python bench/ebs_snapshot_throughput.py [--runs 3] [--json]

Target: snapshot >= 70% of qemu-img convert.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time

from ebs_common import summary, tiny_cloud

from silvereye.compute.snapshots import Snapshots
from silvereye.compute.volumes import Volumes

MiB = 1 << 20
SIZE = 1024 * MiB


def fill(volumes: Volumes, volume_id: str) -> None:
    """A 1 GiB volume of random bytes (written raw, then converted into the volume file)."""
    raw = volumes.root.parent / f"{volume_id}.raw"
    with open(raw, "wb") as f:
        for _ in range(SIZE // (16 * MiB)):
            f.write(os.urandom(16 * MiB))
    try:
        volumes.create(volume_id, source=raw)
    finally:
        raw.unlink()


def timed(action) -> float:
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results: dict[str, list[float]] = {"qemu_img_convert": [], "snapshot_attached": [], "snapshot_detached": []}
    with tiny_cloud("snap") as cloud:
        (info,) = cloud.launch(1)
        volumes = Volumes(cloud.driver)
        snapshots = Snapshots(volumes)
        volume_id = "vol-" + secrets.token_hex(9)[:17]
        fill(volumes, volume_id)
        source = volumes.path_of(volume_id)
        copy = volumes.root / "baseline.qcow2"
        subprocess.run(["cat", str(source)], stdout=subprocess.DEVNULL, check=True)  # the same warm cache for all

        def convert() -> None:
            subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", str(source), str(copy)],
                           check=True)

        def snapshot() -> None:
            image = snapshots.create(volume_id, "snap-" + secrets.token_hex(9)[:17])
            image.discard()

        volumes.attach(volume_id, info.instance_id, "/dev/sdf")
        for i in range(args.runs):
            results["qemu_img_convert"].append(timed(convert))
            copy.unlink()
            results["snapshot_attached"].append(timed(snapshot))
            print(f"run {i + 1}/{args.runs} (attached): convert {results['qemu_img_convert'][-1]:.2f} s, "
                  f"snapshot {results['snapshot_attached'][-1]:.2f} s", file=sys.stderr)
        volumes.detach(volume_id)
        for i in range(args.runs):
            results["snapshot_detached"].append(timed(snapshot))
        assert volumes.describe(volume_id).size == SIZE
    mbs = {k: [SIZE / MiB / s for s in v] for k, v in results.items()}
    medians = {k: statistics.median(v) for k, v in mbs.items()}
    result = {
        "runs": args.runs,
        "volume_mib": SIZE // MiB,
        "seconds": {k: summary(v) for k, v in results.items()},
        "mb_per_s_median": {k: round(v, 1) for k, v in medians.items()},
        "ratio_attached": round(medians["snapshot_attached"] / medians["qemu_img_convert"], 2),
        "ratio_detached": round(medians["snapshot_detached"] / medians["qemu_img_convert"], 2),
        "target_ratio": 0.7,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"1 GiB of random data, {args.runs} runs each (medians):")
        for key, value in medians.items():
            print(f"  {key.replace('_', ' '):<20} {value:7.0f} MiB/s  ({result['seconds'][key]['median']:.2f} s)")
        print(f"  snapshot / convert: attached {result['ratio_attached']:.2f}, detached {result['ratio_detached']:.2f}"
              " (target >= 0.7)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
