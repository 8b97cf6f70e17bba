"""Benchmark: CreateVolume + AttachVolume at the driver level, on a running tiny instance.

Each run creates a 1 GiB volume (a sparse qcow2), hot-plugs it into the
running instance (libvirt attach, live and persistent), and then detaches
(waiting for the guest to release it) and deletes it. Create, attach and
their sum are timed, detach separately; medians and p90 are reported.

    PYTHONPATH=. python bench/ebs_volume_latency.py [--runs 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time

from ebs_common import summary, tiny_cloud

from silvereye.compute.volumes import Volumes

GiB = 1 << 30


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    create, attach, both, detach = [], [], [], []
    with tiny_cloud("vol") as cloud:
        (info,) = cloud.launch(1)
        volumes = Volumes(cloud.driver)
        for i in range(args.runs):
            volume_id = "vol-" + secrets.token_hex(9)[:17]
            t0 = time.perf_counter()
            volumes.create(volume_id, GiB)
            t1 = time.perf_counter()
            volumes.attach(volume_id, info.instance_id, "/dev/sdf")
            t2 = time.perf_counter()
            assert volumes.detach(volume_id).state == "available"
            t3 = time.perf_counter()
            volumes.delete(volume_id)
            create.append(t1 - t0)
            attach.append(t2 - t1)
            both.append(t2 - t0)
            detach.append(t3 - t2)
            print(f"run {i + 1}/{args.runs}: create+attach {both[-1] * 1000:.0f} ms, detach {detach[-1] * 1000:.0f} ms",
                  file=sys.stderr)
    result = {"runs": args.runs, "volume_bytes": GiB, "create_s": summary(create), "attach_s": summary(attach),
              "create_plus_attach_s": summary(both), "detach_s": summary(detach)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"1 GiB volume on a running tiny instance (TCG), {args.runs} runs, median / p90:")
        for key in ("create_s", "attach_s", "create_plus_attach_s", "detach_s"):
            print(f"  {key[:-2].replace('_', ' '):<20} {result[key]['median'] * 1000:7.0f} ms / "
                  f"{result[key]['p90'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
