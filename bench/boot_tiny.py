"""Benchmark: the driver's launch of the tiny image against a bare QEMU boot of the same files.

Both boot the same kernel, initramfs and root overlay under TCG with the same
devices (virtio disk, net and rng, serial console to a file) on the same
silvereye network, with a DHCP reservation and the metadata redirect, and
both are timed from "go" to the guest's ``silvereye-tiny: boot complete``
line on the console, polled the same way. The driver's extra cost is
libvirt (define, start, QMP), the DHCP reservation, the overlay and our
Python. Runs alternate (driver, bare, driver, bare, ...) so that load from
other work on the machine hits both alike; medians are reported.

    PYTHONPATH=. python bench/boot_tiny.py [--runs 3] [--json]

Target: driver <= 1.3 x bare.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from silvereye import config
from silvereye.compute import BootSource, ComputeDriver, LaunchRequest, ids
from silvereye.compute.network import free_subnet
from silvereye.images import tiny

OWNER = "111122223333"
TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Metadata:
    """Answers instance-id (by source address) and an empty user-data, like the real service would."""

    def __init__(self, address: str, port: int):
        self.ids: dict[str, str] = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                iid = owner.ids.get(self.client_address[0])
                if iid is None or self.path != "/latest/meta-data/instance-id":
                    self.send_error(404)
                    return
                body = iid.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for_line(path: Path, marker: bytes, deadline: float) -> None:
    """Poll a console file every 50 ms for ``marker`` (what the driver's wait_for_console does)."""
    while time.monotonic() < deadline:
        try:
            if marker in path.read_bytes():
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no {marker!r} in {path} in time")


def scratch_config(name: str, bridge_prefix: str) -> tuple[Path, config.Config]:
    """A work directory QEMU can reach and the configuration of a network of a bench's own
    (``<name>-<tag>``, bridge ``<bridge_prefix><tag>``, a free /24), under TCG on qemu:///system."""
    tag = secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-{tag}-"))
    os.chmod(work, 0o755)
    cfg = config.from_dict({
        "data_dir": str(work / "data"),
        "compute": {"libvirt_uri": "qemu:///system", "domain_type": "qemu"},
        "network": {"name": f"{name}-{tag}", "bridge": f"{bridge_prefix}{tag}", "subnet": free_subnet(),
                    "metadata_port": free_port()},
    })
    return work, cfg


def run_driver(driver: ComputeDriver, boot: BootSource, metadata: Metadata) -> dict:
    iid = ids.new_instance_id()
    started = time.monotonic()
    try:
        info = driver.launch(LaunchRequest(iid, OWNER, "t2.nano", boot))
        launched = time.monotonic()
        metadata.ids[info.private_ip] = iid
        driver.wait_for_console(iid, tiny.BOOT_COMPLETE, timeout=TIMEOUT)
        done = time.monotonic()
    finally:
        driver.terminate(iid)
    return {"launch_s": launched - started, "boot_complete_s": done - started}


def run_bare(driver: ComputeDriver, image: tiny.TinyImage, metadata: Metadata, work: Path) -> dict:
    """qemu-system-x86_64 -accel tcg on a tap in the same bridge, with the same devices."""
    conn = driver.nodes[0].connection()
    iid = ids.new_instance_id()
    tap = f"cbt{secrets.token_hex(3)}"
    choice = driver.network.choose(iid, driver.network.reservations(conn))
    driver.network.reserve(conn, choice)
    driver.network.settle(iid)
    metadata.ids[choice.ip] = iid
    run_dir = work / iid
    run_dir.mkdir()
    console = run_dir / "console.log"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.root),
                    str(run_dir / "root.qcow2")], check=True)
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    proc = None
    try:
        subprocess.run(["ip", "link", "set", tap, "master", driver.network.bridge, "up"], check=True)
        argv = [
            "qemu-system-x86_64", "-accel", "tcg", "-machine", "pc", "-m", "512", "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", str(image.kernel), "-initrd", str(image.ramdisk), "-append", image.kernel_cmdline,
            "-drive", f"file={run_dir / 'root.qcow2'},if=virtio,format=qcow2",
            "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={choice.mac}",
            "-device", "virtio-rng-pci",
            "-serial", f"file:{console}",
        ]
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_line(console, tiny.BOOT_COMPLETE, started + TIMEOUT)
        done = time.monotonic()
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "link", "del", tap], capture_output=True)
        driver.network.release(conn, choice.mac)
        driver.network.forget_lease(driver.nodes[0].host, choice.ip, choice.mac)
    return {"boot_complete_s": done - started}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="boots of each kind (default 3)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)

    image = tiny.build()
    work, cfg = scratch_config("compute-bench", "cb")
    driver = ComputeDriver(cfg)
    metadata = None
    results: dict[str, list[dict]] = {"driver": [], "bare": []}
    try:
        driver.setup()
        metadata = Metadata(str(driver.network.gateway), cfg.network.metadata_port)
        images = driver.images
        boot = BootSource(root=images.add(image.root, "qcow2"), kernel=images.add_blob(image.kernel),
                          ramdisk=images.add_blob(image.ramdisk), kernel_cmdline=image.kernel_cmdline)
        for i in range(args.runs):
            results["driver"].append(run_driver(driver, boot, metadata))
            results["bare"].append(run_bare(driver, image, metadata, work))
            print(f"run {i + 1}/{args.runs}: driver {results['driver'][-1]['boot_complete_s']:.2f} s, "
                  f"bare {results['bare'][-1]['boot_complete_s']:.2f} s", file=sys.stderr)
    finally:
        if metadata is not None:
            metadata.close()
        for info in driver.list_instances():
            driver.terminate(info.instance_id)
        driver.teardown()
        driver.close()
        shutil.rmtree(work, ignore_errors=True)

    driver_med = statistics.median(r["boot_complete_s"] for r in results["driver"])
    bare_med = statistics.median(r["boot_complete_s"] for r in results["bare"])
    summary = {
        "runs": args.runs,
        "driver_boot_complete_median_s": round(driver_med, 2),
        "driver_launch_median_s": round(statistics.median(r["launch_s"] for r in results["driver"]), 2),
        "bare_boot_complete_median_s": round(bare_med, 2),
        "ratio": round(driver_med / bare_med, 2),
        "target_ratio": 1.3,
        "samples": results,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"tiny image, TCG, {args.runs} runs each (medians):")
        print(f"  driver: launch returned {summary['driver_launch_median_s']:.2f} s, "
              f"boot complete {summary['driver_boot_complete_median_s']:.2f} s")
        print(f"  bare qemu-system-x86_64 -accel tcg: boot complete {summary['bare_boot_complete_median_s']:.2f} s")
        print(f"  ratio {summary['ratio']:.2f} (target <= 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
