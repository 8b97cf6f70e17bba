"""Benchmark: EC2 launches of the tiny image, and DescribeInstances throughput, in one run.

1. **One launch**: RunInstances -> ``running`` in DescribeInstances, and ->
   the guest's ``silvereye-tiny: boot complete`` line in GetConsoleOutput,
   through the real server (``silvereye serve``, QEMU under TCG), against a
   bare ``qemu-system-x86_64 -accel tcg`` boot of the same kernel, initramfs
   and root disk (bench/boot_tiny.py's bare boot, on a network of its own
   with the same DHCP reservation and metadata redirect). Runs alternate
   (API, bare, API, bare...) so other load on the machine hits both alike;
   medians are reported. Target: API boot-complete <= 1.3 x bare. Both
   sides are polled every 50 ms (the API side with real API calls).
2. **Ten at once**: one RunInstances with MinCount=10: time until all ten
   are running, and until all ten printed their boot line. This machine has
   2 cores: ten TCG guests booting at once share them.
3. **DescribeInstances** requests/s with 500 instances (silvereye on
   libvirt's test driver; moto_server with 500 instances), 4 connections
   of signed requests replayed by ``wrk`` (bench/api_throughput.py's
   harness), the whole list in every answer (no MaxResults).

    PYTHONPATH=. .venv/bin/python bench/ec2_launch.py [--runs 3] [--parallel 10] [--describe 500] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_throughput  # noqa: E402 - bench/api_throughput.py: signed requests replayed by wrk
import boot_tiny  # noqa: E402 - bench/boot_tiny.py: the bare QEMU boot

from silvereye import config  # noqa: E402
from silvereye.compute import ComputeDriver  # noqa: E402
from silvereye.compute.network import free_subnet  # noqa: E402
from silvereye.images import tiny  # noqa: E402
from tests.e2e.ec2_cloud import BOOT_LINE, Ec2Cloud  # noqa: E402
from tests.fixtures.server import RunningServer, free_port  # noqa: E402

POLL = 0.05
TIMEOUT = 600


def _until(check, timeout: float = TIMEOUT):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(POLL)


def _states(ec2, ids: list[str]) -> dict[str, str]:
    reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def _booted(ec2, iid: str) -> bool:
    return BOOT_LINE in ec2.get_console_output(InstanceId=iid, Latest=True).get("Output", "")


def launch_api(ec2, image_id: str, count: int = 1) -> dict:
    started = time.monotonic()
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image_id, MinCount=count, MaxCount=count,
                                                      InstanceType="t2.nano")["Instances"]]
    answered = time.monotonic()
    _until(lambda: all(s == "running" for s in _states(ec2, ids).values()))
    running = time.monotonic()
    pending = set(ids)

    def all_booted() -> bool:
        for iid in list(pending):
            if _booted(ec2, iid):
                pending.discard(iid)
        return not pending

    _until(all_booted)
    booted = time.monotonic()
    ec2.terminate_instances(InstanceIds=ids)
    _until(lambda: all(s == "terminated" for s in _states(ec2, ids).values()), timeout=180)
    return {"answer_s": answered - started, "running_s": running - started, "boot_complete_s": booted - started}


class Bare:
    """bench/boot_tiny.py's bare boot on a network of its own (its metadata stub answers instance-id)."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.work = Path(tempfile.mkdtemp(prefix=f"ec2-bench-bare-{tag}-"))
        os.chmod(self.work, 0o755)
        cfg = config.from_dict({
            "data_dir": str(self.work / "data"),
            "compute": {"libvirt_uri": "qemu:///system", "domain_type": "qemu"},
            "network": {"name": f"ec2-bench-{tag}", "bridge": f"eb{tag}", "subnet": free_subnet(),
                        "metadata_port": free_port()},
        })
        self.driver = ComputeDriver(cfg)
        self.driver.setup()
        self.metadata = boot_tiny.Metadata(str(self.driver.network.gateway), cfg.network.metadata_port)

    def boot(self, image: tiny.TinyImage) -> dict:
        return boot_tiny.run_bare(self.driver, image, self.metadata, self.work)

    def close(self) -> None:
        self.metadata.close()
        self.driver.teardown()
        self.driver.close()
        shutil.rmtree(self.work, ignore_errors=True)


def bench_boots(runs: int, parallel: int) -> dict:
    image = tiny.build()
    cloud = Ec2Cloud().start()
    bare = Bare()
    out: dict = {"api": [], "bare": []}
    try:
        image_id = cloud.install_tiny()["image_id"]
        ec2 = cloud.server.client("ec2")
        launch_api(ec2, image_id)  # warm-up: the network comes up, the image cache and page cache fill
        for i in range(runs):
            out["api"].append(launch_api(ec2, image_id))
            out["bare"].append(bare.boot(image))
            print(f"run {i + 1}/{runs}: API running {out['api'][-1]['running_s']:.2f} s, boot complete "
                  f"{out['api'][-1]['boot_complete_s']:.2f} s; bare {out['bare'][-1]['boot_complete_s']:.2f} s",
                  file=sys.stderr)
        if parallel:
            out["parallel"] = {"count": parallel, **launch_api(ec2, image_id, parallel)}
            print(f"{parallel} at once: all running {out['parallel']['running_s']:.2f} s, all booted "
                  f"{out['parallel']['boot_complete_s']:.2f} s", file=sys.stderr)
    finally:
        bare.close()
        cloud.destroy()
    med = lambda rows, k: round(statistics.median(r[k] for r in rows), 2)  # noqa: E731
    out["summary"] = {
        "runs": runs,
        "api_answer_median_s": med(out["api"], "answer_s"),
        "api_running_median_s": med(out["api"], "running_s"),
        "api_boot_complete_median_s": med(out["api"], "boot_complete_s"),
        "bare_boot_complete_median_s": med(out["bare"], "boot_complete_s"),
    }
    out["summary"]["ratio"] = round(out["summary"]["api_boot_complete_median_s"]
                                    / out["summary"]["bare_boot_complete_median_s"], 2)
    return out


BIG_NODE = """<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>64</cores><threads>1</threads><active>64</active>
  <mhz>2000</mhz><model>x86_64</model></cpu>
  <memory>{kib}</memory>
</node>
"""


def _launch_many(ec2, image_id: str, count: int, wait) -> None:  # noqa: ANN001
    ids: list[str] = []
    while len(ids) < count:
        n = min(100, count - len(ids))
        ids += [i["InstanceId"] for i in ec2.run_instances(ImageId=image_id, MinCount=n, MaxCount=n,
                                                           InstanceType="t2.nano")["Instances"]]
    if wait:
        _until(lambda: all(s == "running" for s in _states(ec2, ids).values()), timeout=900)


def _describe_rps(url: str, key: str, secret: str, region: str, seconds: int, connections: int) -> dict:
    body = "Action=DescribeInstances&Version=2016-11-15"
    headers = api_throughput.signed(url, "ec2", body, key, secret, region)
    api_throughput.run_wrk(url, headers, body, 3, connections, timeout=60)  # warm-up
    return api_throughput.run_wrk(url, headers, body, seconds, connections, timeout=60)


def bench_describe(count: int, seconds: int, connections: int) -> dict:
    import boto3

    root = Path(tempfile.mkdtemp(prefix="ec2-bench-describe-"))
    node = root / "node.xml"
    node.write_text(BIG_NODE.format(kib=(count * 512 + 4096) * 1024))
    tag = secrets.token_hex(3)
    ours = RunningServer(root, extra={
        "compute": {"libvirt_uri": f"test://{node}", "domain_type": "qemu"},
        "network": {"name": f"ec2-bench-d{tag}", "bridge": f"ed{tag}", "subnet": "10.216.0.0/21"},
    })
    moto_port = free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict = {"instances": count, "connections": connections}
    try:
        ours.start()
        disk = root / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
        image_id = json.loads(ours.cli("images", "install", "cirros-0.6.2", "--from-file", str(disk),
                                       "--json").stdout)["image_id"]
        started = time.monotonic()
        _launch_many(ours.client("ec2"), image_id, count, wait=True)
        results["silvereye_launch_all_s"] = round(time.monotonic() - started, 1)
        answer = ours.client("ec2").describe_instances()
        assert sum(len(r["Instances"]) for r in answer["Reservations"]) == count
        results["silvereye"] = _describe_rps(ours.url, ours.access_key, ours.secret_key, ours.region, seconds,
                                             connections)

        api_throughput.wait_port(moto_port)
        moto_url = f"http://127.0.0.1:{moto_port}"
        moto_ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name="us-east-1",
                                aws_access_key_id="AKIAMOTOBENCH0000000", aws_secret_access_key="x" * 40)
        moto_image = moto_ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        _launch_many(moto_ec2, moto_image, count, wait=False)
        results["moto"] = _describe_rps(moto_url, "AKIAMOTOBENCH0000000", "x" * 40, "us-east-1", seconds, connections)
        results["ratio"] = round(results["silvereye"]["rps"] / results["moto"]["rps"], 2)
    finally:
        ours.kill()
        moto.kill()
        moto.wait()
        shutil.rmtree(root, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="single launches of each kind (default 3)")
    ap.add_argument("--parallel", type=int, default=10, help="instances in the at-once launch (0: skip)")
    ap.add_argument("--describe", type=int, default=500, help="instances for DescribeInstances (0: skip)")
    ap.add_argument("--seconds", type=int, default=20, help="seconds of DescribeInstances load per server")
    ap.add_argument("--connections", type=int, default=4, help="concurrent DescribeInstances requests (default 4)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    report: dict = {}
    if args.runs:
        report["boot"] = bench_boots(args.runs, args.parallel)
    if args.describe:
        report["describe"] = bench_describe(args.describe, args.seconds, args.connections)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if "boot" in report:
        s = report["boot"]["summary"]
        print(f"tiny image under TCG, {s['runs']} runs each (medians):")
        print(f"  RunInstances answered {s['api_answer_median_s']:.2f} s, running {s['api_running_median_s']:.2f} s, "
              f"boot complete {s['api_boot_complete_median_s']:.2f} s")
        print(f"  bare qemu-system-x86_64 -accel tcg: boot complete {s['bare_boot_complete_median_s']:.2f} s")
        print(f"  ratio {s['ratio']:.2f} (target <= 1.3)")
        if "parallel" in report["boot"]:
            p = report["boot"]["parallel"]
            print(f"  {p['count']} at once: all running {p['running_s']:.2f} s, all booted {p['boot_complete_s']:.2f} s")
    if "describe" in report:
        d = report["describe"]
        print(f"DescribeInstances, {d['instances']} instances, {d['connections']} connections:")
        for name in ("silvereye", "moto"):
            r = d[name]
            print(f"  {name:<10} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  "
                  f"non-2xx {r['non_2xx']}")
        print(f"  ratio {d['ratio']:.2f}x (silvereye launched its {d['instances']} in {d['silvereye_launch_all_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
