"""Benchmark: EBS through the EC2 API against the disk layer underneath it, in the same run.

A whole cloud (the real server, boto3, libvirt, one running tiny instance
under TCG). Two measurements:

- CreateVolume (1 GiB) until ``available``, then AttachVolume, against
  ``Volumes.create`` + ``Volumes.attach`` on the same instance: what the
  API, the store and the background job add to the driver-level path.
  Runs alternate; each volume is detached and deleted afterwards.
- CreateSnapshot of a 1 GiB volume of random data attached to the running
  instance, until ``completed`` (freeze, copy, merge, stored in the system
  bucket), against ``qemu-img convert -U`` of the same file. Throughput is
  the volume's size over the wall time; medians compared (target >= 0.7).
  For context, the convert followed by an fsync of its output is timed
  too: S3 makes every object durable before it is stored, and checks
  it (a CRC32C for snapshots), which a bare convert does not.

    PYTHONPATH=. python bench/ec2_volume_api.py [--runs 5] [--json]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ebs_common import summary  # noqa: E402

from silvereye.compute.volumes import Volumes  # noqa: E402
from tests.e2e.ec2_cloud import BOOT_LINE, Ec2Cloud, wait_console, wait_state  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
POLL = 0.05  # between Describe calls: often enough to see the end, rarely enough not to load the server


def until(check, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the cloud did not get there in time")
        time.sleep(POLL)


def volume_state(ec2, volume_id: str) -> str:
    return ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"]


def api_create_attach(ec2, zone: str, instance_id: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    vid = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
    until(lambda: volume_state(ec2, vid) == "available")
    ec2.attach_volume(VolumeId=vid, InstanceId=instance_id, Device="/dev/sdf")
    return time.perf_counter() - t0, vid


def api_remove(ec2, vid: str) -> None:
    ec2.detach_volume(VolumeId=vid)
    until(lambda: volume_state(ec2, vid) == "available")
    ec2.delete_volume(VolumeId=vid)


def driver_create_attach(volumes: Volumes, instance_id: str) -> tuple[float, str]:
    vid = "vol-" + secrets.token_hex(9)[:17]
    t0 = time.perf_counter()
    volumes.create(vid, GiB)
    volumes.attach(vid, instance_id, "/dev/sdf")
    return time.perf_counter() - t0, vid


def fill_random(path: Path) -> None:
    """1 GiB of random bytes into a detached volume's file (nothing for sparseness to skip)."""
    raw = path.with_suffix(".raw")
    with open(raw, "wb") as f:
        for _ in range(GiB // (16 * MiB)):
            f.write(os.urandom(16 * MiB))
    try:
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -s {raw} 0 {GiB}", str(path)], check=True,
                       capture_output=True)
    finally:
        raw.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    latency: dict[str, list[float]] = {"api": [], "driver": []}
    seconds: dict[str, list[float]] = {"qemu_img_convert": [], "qemu_img_convert_fsync": [], "api_snapshot": []}
    phases: dict[str, list[float]] = {"until_copied": []}
    cloud = Ec2Cloud().start()
    driver = None
    try:
        tiny = cloud.install_tiny()
        ec2 = cloud.server.client("ec2")
        iid = ec2.run_instances(ImageId=tiny["image_id"], MinCount=1, MaxCount=1,
                                InstanceType="t2.nano")["Instances"][0]["InstanceId"]
        zone = wait_state(ec2, iid, "running")["Placement"]["AvailabilityZone"]
        wait_console(ec2, iid, BOOT_LINE)
        driver = cloud.driver()
        volumes = Volumes(driver)

        for i in range(0 if args.skip_latency else args.runs):
            took, vid = api_create_attach(ec2, zone, iid)
            latency["api"].append(took)
            api_remove(ec2, vid)
            took, vid = driver_create_attach(volumes, iid)
            latency["driver"].append(took)
            volumes.detach(vid)
            volumes.delete(vid)
            print(f"run {i + 1}/{args.runs}: create+attach API {latency['api'][-1] * 1000:.0f} ms, "
                  f"driver {latency['driver'][-1] * 1000:.0f} ms", file=sys.stderr)

        vid = ec2.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"]
        until(lambda: volume_state(ec2, vid) == "available")
        source = cloud.cfg.volumes_path / f"{vid}.qcow2"
        fill_random(source)
        ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
        copy = source.parent / "baseline.qcow2"
        subprocess.run(["cat", str(source)], stdout=subprocess.DEVNULL, check=True)  # the same warm cache for both
        for i in range(args.runs):
            subprocess.run(["sync"], check=True)
            t0 = time.perf_counter()
            subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", str(source), str(copy)], check=True)
            seconds["qemu_img_convert"].append(time.perf_counter() - t0)
            subprocess.run(["sync", str(copy)], check=True)  # for context: the copy made durable, as S3 makes its objects
            seconds["qemu_img_convert_fsync"].append(time.perf_counter() - t0)
            copy.unlink()
            subprocess.run(["sync"], check=True)
            t0 = time.perf_counter()
            sid = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
            copied: list[float] = []

            def done() -> bool:
                found = ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]
                if found["State"] == "error":
                    raise RuntimeError(f"snapshot {sid} failed: {found.get('StateMessage')}")
                if not copied and int(found["Progress"].rstrip("%")) >= 90:
                    copied.append(time.perf_counter() - t0)  # frozen, copied, merged back; storing begins
                return found["State"] == "completed"

            until(done)
            seconds["api_snapshot"].append(time.perf_counter() - t0)
            phases["until_copied"].append(copied[0] if copied else seconds["api_snapshot"][-1])
            ec2.delete_snapshot(SnapshotId=sid)
            print(f"run {i + 1}/{args.runs}: convert {seconds['qemu_img_convert'][-1]:.2f} s, "
                  f"CreateSnapshot {seconds['api_snapshot'][-1]:.2f} s", file=sys.stderr)
        api_remove(ec2, vid)
    finally:
        if driver is not None:
            driver.close()
        cloud.destroy()

    mbs = {k: statistics.median(GiB / MiB / s for s in v) for k, v in seconds.items()}
    result = {
        "runs": args.runs,
        "create_attach_s": {k: summary(v) for k, v in latency.items() if v},
        "snapshot_until_copied_s": summary(phases["until_copied"]),
        "snapshot_s": {k: summary(v) for k, v in seconds.items()},
        "snapshot_mib_per_s_median": {k: round(v, 1) for k, v in mbs.items()},
        "snapshot_ratio": round(mbs["api_snapshot"] / mbs["qemu_img_convert"], 2),
        "target_ratio": 0.7,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"EBS through the API vs the disk layer, {args.runs} runs (medians):")
        for k, v in (item for item in latency.items() if item[1]):
            print(f"  create+attach 1 GiB, {k:<6} {statistics.median(v) * 1000:7.0f} ms (p90 {summary(v)['p90'] * 1000:.0f} ms)")
        for k, v in mbs.items():
            print(f"  {k.replace('_', ' '):<24} {v:7.0f} MiB/s ({statistics.median(seconds[k]):.2f} s)")
        print(f"  CreateSnapshot / qemu-img convert: {result['snapshot_ratio']:.2f} (target >= 0.7); of its "
              f"{statistics.median(seconds['api_snapshot']):.2f} s, {statistics.median(phases['until_copied']):.2f} s "
              "until frozen, copied and merged back, the rest storing the object (CRC32C, fsync)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
