"""Signed API requests per second: silvereye against moto_server, in one run.

What is measured: GetCallerIdentity and ListUsers (100 users in the account)
with 16 concurrent connections, each request signed with SigV4 by botocore
and verified by silvereye (moto does not verify signatures). The load comes
from `wrk`, a C load generator, replaying signed requests (SigV4 has no
nonce, so a request stays valid inside the clock-skew window): a Python
client would saturate these two cores long before either server does.
Also reported: p50/p99 latency, and each server's resident memory when idle.

    .venv/bin/python bench/api_throughput.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import botocore.session  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from tests.fixtures.server import RunningServer, free_port  # noqa: E402

OPERATIONS = {
    "GetCallerIdentity": ("sts", "Action=GetCallerIdentity&Version=2011-06-15"),
    "ListUsers": ("iam", "Action=ListUsers&Version=2010-05-08&MaxItems=100"),
}

LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers = {{}}
{headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), summary.duration))
end
"""


def lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def signed(url: str, service: str, body: str, key: str, secret: str, region: str) -> dict[str, str]:
    req = AWSRequest(method="POST", url=url + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(req)
    return dict(req.headers.items())


def run_wrk(url: str, headers: dict[str, str], body: str, seconds: int, connections: int,
            timeout: int = 2) -> dict[str, float]:
    script = "\n".join(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}" for k, v in headers.items() if k.lower() != "host")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA.format(body=lua_str(body), headers=script))
    try:
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout}s", "-s", f.name,
                              url + "/"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not m:
        raise RuntimeError(f"wrk gave no result:\n{out}")
    requests, bad_status, socket_errors, p50, p99, duration_us = map(int, m.groups())
    return {
        "rps": requests / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "non_2xx": bad_status,
        "socket_errors": socket_errors,
        "requests": requests,
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_rss_mib(pid: int) -> float:
    """RSS of a process and its descendants (moto_server forks nothing; silvereye neither, but be fair)."""
    total = rss_mib(pid)
    for child in Path("/proc").glob("[0-9]*"):
        try:
            if f"PPid:\t{pid}\n" in (child / "status").read_text():
                total += rss_mib(int(child.name))
        except OSError:
            pass
    return total


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def prepare_users(client_factory) -> None:
    iam = client_factory("iam")
    for i in range(100):
        iam.create_user(UserName=f"bench-user-{i:03d}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("error: wrk is not installed (apt-get install wrk; tools/bootstrap bench)", file=sys.stderr)
        return 2

    results: dict[str, dict] = {}
    root = Path(tempfile.mkdtemp(prefix="bench-api-"))
    ours = RunningServer(root).start()
    moto_port = free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(moto_port)
        moto_url = f"http://127.0.0.1:{moto_port}"
        time.sleep(2)  # both idle
        results["idle_rss_mib"] = {"silvereye": round(rss_mib(ours.proc.pid), 1), "moto": round(children_rss_mib(moto.pid), 1)}

        prepare_users(ours.client)
        import boto3

        prepare_users(lambda svc: boto3.client(svc, endpoint_url=moto_url, region_name="us-east-1",
                                               aws_access_key_id="AKIAMOTOBENCH0000000", aws_secret_access_key="x" * 40))
        for op, (service, body) in OPERATIONS.items():
            for name, url, key, secret, region in (
                ("silvereye", ours.url, ours.access_key, ours.secret_key, ours.region),
                ("moto", moto_url, "AKIAMOTOBENCH0000000", "x" * 40, "us-east-1"),
            ):
                headers = signed(url, service, body, key, secret, region)
                run_wrk(url, headers, body, 2, args.connections)  # warm-up
                results.setdefault(op, {})[name] = run_wrk(url, headers, body, args.seconds, args.connections)
            r = results[op]
            r["ratio"] = round(r["silvereye"]["rps"] / r["moto"]["rps"], 2)
    finally:
        ours.kill()
        moto.kill()
        moto.wait()
        shutil.rmtree(root, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'operation':<20}{'server':<11}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
        for op in OPERATIONS:
            for name in ("silvereye", "moto"):
                r = results[op][name]
                print(f"{op:<20}{name:<11}{r['rps']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['non_2xx']:>9}")
            print(f"{'':<20}{'ratio':<11}{results[op]['ratio']:>9.2f}x")
        rss = results["idle_rss_mib"]
        print(f"idle RSS: silvereye {rss['silvereye']} MiB, moto_server {rss['moto']} MiB")
    bad = [op for op in OPERATIONS for n in ("silvereye", "moto") if results[op][n]["non_2xx"]]
    if bad:
        print(f"warning: non-2xx answers in {bad}: the figures are not valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
