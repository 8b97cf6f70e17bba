"""S3 throughput: silvereye against nginx (the static-file limit) and moto_server, in one run.

What is measured, on loopback, the three servers running side by side on free
ports; reads are repeated in rounds that alternate between the servers and
the best of each is kept, so that load from elsewhere on the machine does not
favour whichever server happened to run in a quiet minute:

* one 1 GiB object: PUT with boto3 ``upload_file`` (multipart, 8 MiB parts,
  10 threads: boto3's defaults), then GET three ways --
  a plain HTTP GET with urllib3 on one connection, 1 MiB reads (the same
  client for all three servers: nginx serves the file from disk, the S3
  servers answer a presigned URL); ``curl`` to /dev/null (a C client, so the
  server is the bottleneck rather than Python); and, for the two S3 servers,
  boto3 ``get_object`` read in 1 MiB pieces (one stream) and boto3
  ``download_file`` (ranged GETs in parallel, what ``aws s3 cp`` does);
* 2,000 objects of 4 KiB: PUT and GET with boto3 from 8 threads, and GET
  with urllib3 from 8 threads (presigned URLs; plain URLs for nginx);
* the server's peak resident memory during the 1 GiB PUT, above what it used
  just before (``/proc/<pid>/status`` VmHWM after resetting it through
  ``clear_refs``).

Targets (issue 4): large GET at least 60% of nginx's and 5x moto's; memory
growth under 64 MiB during the 1 GiB PUT.

    .venv/bin/python bench/s3_throughput.py [--size-mib 1024] [--small 2000] [--json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
import urllib3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

from api_throughput import wait_port  # noqa: E402  (this directory's other bench)
from tests.fixtures.server import RunningServer, free_port  # noqa: E402

MiB = 1024 * 1024
THREADS = 8
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; fastcgi_temp_path {root}/fcgi;
  uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
"""


def rss_kib(pid: int, entry: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(entry + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {entry} for {pid}")


class PeakRss:
    """Peak RSS of a process over a block: kernel high-water mark (reset first) and our own sampling."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()

    def __enter__(self) -> "PeakRss":
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        self.before = rss_kib(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append(rss_kib(self.pid))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max([rss_kib(self.pid, "VmHWM"), *self.samples])

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.before) / 1024


def s3_client(url: str, key: str, secret: str, region: str):  # noqa: ANN201
    return boto3.client("s3", endpoint_url=url, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 2}, max_pool_connections=32))


def timed(fn, *args, **kw) -> float:
    started = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - started


def urllib3_get(url: str) -> int:
    pool = urllib3.PoolManager()
    response = pool.request("GET", url, preload_content=False)
    if response.status != 200:
        raise RuntimeError(f"GET {url.split('?')[0]} answered {response.status}")
    n = 0
    for chunk in response.stream(MiB):
        n += len(chunk)
    response.release_conn()
    return n


def small_get(pool: urllib3.PoolManager, url: str) -> None:
    r = pool.request("GET", url)
    if r.status != 200 or len(r.data) != 4096:
        raise RuntimeError(f"GET {url.split('?')[0]} answered {r.status} with {len(r.data)} bytes")


def curl_get(url: str) -> float:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{speed_download}", url],
                         capture_output=True, text=True, check=True).stdout.split()
    if out[0] != "200":
        raise RuntimeError(f"curl GET answered {out[0]}")
    return float(out[1]) / MiB


def in_threads(fn, items) -> float:  # noqa: ANN001
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(fn, items))
    return time.perf_counter() - started


@dataclass
class Target:
    """One server under test: how to GET its big object and small objects, and (S3) a client and a pid."""

    name: str
    big_url: str = ""
    small_urls: list[str] = field(default_factory=list)
    client: object = None
    pid: int = 0
    results: dict = field(default_factory=dict)

    def best(self, key: str, value: float) -> None:
        self.results[key] = max(self.results.get(key, 0.0), value)


def load_s3(target: Target, big: Path, size: int, small: int) -> None:
    """PUT the big object (watching the server's memory) and the small ones; presign their URLs."""
    client = target.client
    client.create_bucket(Bucket="bench")
    with PeakRss(target.pid) as peak:
        seconds = timed(client.upload_file, str(big), "bench", "big.bin", Config=TransferConfig())
    target.results["large_put_mib_s"] = size / MiB / seconds
    target.results["large_put_rss_growth_mib"] = peak.growth_mib
    body = os.urandom(4096)
    keys = [f"small/{i:05d}" for i in range(small)]
    target.results["small_put_per_s"] = small / in_threads(
        lambda k: client.put_object(Bucket="bench", Key=k, Body=body), keys)
    target.big_url = client.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "big.bin"},
                                                   ExpiresIn=3600)
    target.small_urls = [client.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": k},
                                                       ExpiresIn=3600) for k in keys]


def read_round(target: Target, size: int) -> None:
    """One round of every read measurement (the caller alternates servers between rounds)."""
    target.best("large_get_urllib3_mib_s", size / MiB / timed(urllib3_get, target.big_url))
    target.best("large_get_curl_mib_s", curl_get(target.big_url))
    pool = urllib3.PoolManager(maxsize=THREADS)
    target.best("small_get_urllib3_per_s", len(target.small_urls) / in_threads(
        lambda u: small_get(pool, u), target.small_urls))
    if target.client is None:
        return
    client = target.client

    def streamed() -> float:
        body = client.get_object(Bucket="bench", Key="big.bin")["Body"]
        started, n = time.perf_counter(), 0
        while chunk := body.read(MiB):
            n += len(chunk)
        return n / MiB / (time.perf_counter() - started)

    target.best("large_get_boto3_stream_mib_s", streamed())
    keys = [f"small/{i:05d}" for i in range(len(target.small_urls))]
    target.best("small_get_per_s", len(keys) / in_threads(
        lambda k: client.get_object(Bucket="bench", Key=k)["Body"].read(), keys))


def download_round(target: Target, size: int, work: Path) -> None:
    path = work / f"{target.name}-download.bin"
    target.best("large_get_download_file_mib_s", size / MiB / timed(
        target.client.download_file, "bench", "big.bin", str(path), Config=TransferConfig()))
    if os.path.getsize(path) != size:
        raise RuntimeError(f"{target.name}: downloaded {os.path.getsize(path)} bytes of {size}")
    path.unlink()


def start_nginx(root: Path, big: Path, small: int) -> tuple[subprocess.Popen, Target]:
    www = root / "www"
    (www / "small").mkdir(parents=True)
    os.link(big, www / "big.bin")
    body = os.urandom(4096)
    for i in range(small):
        (www / "small" / f"{i:05d}").write_bytes(body)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, port=port, www=www))
    proc = subprocess.Popen(["/usr/sbin/nginx", "-c", str(conf), "-p", str(root)], stderr=subprocess.DEVNULL)
    wait_port(port)
    url = f"http://127.0.0.1:{port}"
    return proc, Target("nginx", f"{url}/big.bin", [f"{url}/small/{i:05d}" for i in range(small)])


def start_moto(root: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=open(root / "moto.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port)
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="read rounds, alternating between the servers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = args.size_mib * MiB
    root = Path(tempfile.mkdtemp(prefix="s3-bench-"))
    root.chmod(0o755)  # nginx's workers run as nobody
    stops = []
    try:
        big = root / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MiB))
        nginx_proc, nginx = start_nginx(root / "nginx", big, args.small)
        stops.append(lambda: (nginx_proc.terminate(), nginx_proc.wait(timeout=10)))
        (root / "silvereye").mkdir()
        server = RunningServer(root / "silvereye").start()
        stops.append(server.stop)
        ours = Target("silvereye", client=s3_client(server.url, server.access_key, server.secret_key, server.region),
                      pid=server.proc.pid)
        moto_proc, port = start_moto(root)
        stops.append(lambda: (os.killpg(moto_proc.pid, 15), moto_proc.wait(timeout=30)))
        moto = Target("moto", client=s3_client(f"http://127.0.0.1:{port}", "bench", "bench", "us-east-1"),
                      pid=moto_proc.pid)
        for target in (ours, moto):
            load_s3(target, big, size, args.small)
        for _ in range(args.rounds):
            for target in (nginx, ours, moto):
                read_round(target, size)
        for _ in range(2):
            download_round(ours, size, root)
        download_round(moto, size, root)  # one round: at moto's pace it takes minutes
        for target in (ours, moto):
            target.results["idle_rss_mib"] = rss_kib(target.pid) / 1024
    finally:
        for stop in reversed(stops):
            stop()
        shutil.rmtree(root, ignore_errors=True)
    report(args, [{"server": t.name, **t.results} for t in (ours, nginx, moto)])


def report(args: argparse.Namespace, results: list[dict]) -> None:
    as_json = args.json
    by = {r["server"]: r for r in results}
    s, nginx, moto = by["silvereye"], by["nginx"], by["moto"]
    verdict = {
        "get_vs_nginx_urllib3": s["large_get_urllib3_mib_s"] / nginx["large_get_urllib3_mib_s"],
        "get_vs_nginx_curl": s["large_get_curl_mib_s"] / nginx["large_get_curl_mib_s"],
        "get_vs_moto_urllib3": s["large_get_urllib3_mib_s"] / moto["large_get_urllib3_mib_s"],
        "get_vs_moto_boto3_stream": s["large_get_boto3_stream_mib_s"] / moto["large_get_boto3_stream_mib_s"],
        "get_vs_moto_download_file": s["large_get_download_file_mib_s"] / moto["large_get_download_file_mib_s"],
        "put_rss_growth_mib": s["large_put_rss_growth_mib"],
    }
    if as_json:
        print(json.dumps({"size_mib": args.size_mib, "small": args.small, "results": results, "ratios": verdict},
                         indent=2))
        return
    rows = [
        ("large PUT, boto3 upload_file (MiB/s)", "large_put_mib_s"),
        ("large GET, urllib3 one stream (MiB/s)", "large_get_urllib3_mib_s"),
        ("large GET, curl (MiB/s)", "large_get_curl_mib_s"),
        ("large GET, boto3 get_object, one stream (MiB/s)", "large_get_boto3_stream_mib_s"),
        ("large GET, boto3 download_file (MiB/s)", "large_get_download_file_mib_s"),
        ("small PUT, boto3, 8 threads (objects/s)", "small_put_per_s"),
        ("small GET, boto3, 8 threads (objects/s)", "small_get_per_s"),
        ("small GET, urllib3, 8 threads (objects/s)", "small_get_urllib3_per_s"),
        ("RSS growth during the large PUT (MiB)", "large_put_rss_growth_mib"),
        ("RSS after the run (MiB)", "idle_rss_mib"),
    ]
    print(f"large object {args.size_mib} MiB, {args.small} small objects of 4 KiB, best of {args.rounds} "
          "read rounds alternating between the servers")
    print(f"{'':50}{'silvereye':>12}{'nginx':>12}{'moto':>12}")
    for label, key in rows:
        cells = [f"{r[key]:12.1f}" if key in r else f"{'-':>12}" for r in (s, nginx, moto)]
        print(f"{label:50}{''.join(cells)}")
    print()
    print(f"large GET vs nginx, same client (urllib3): {verdict['get_vs_nginx_urllib3']:.0%}   (target >= 60%)")
    print(f"large GET vs nginx, curl:                  {verdict['get_vs_nginx_curl']:.0%}")
    print(f"large GET vs moto (urllib3):               {verdict['get_vs_moto_urllib3']:.1f}x   (target >= 5x)")
    print(f"large GET vs moto (boto3 get_object):      {verdict['get_vs_moto_boto3_stream']:.1f}x")
    print(f"large GET vs moto (boto3 download_file):   {verdict['get_vs_moto_download_file']:.1f}x")
    print(f"RSS growth during the 1 GiB PUT:           {verdict['put_rss_growth_mib']:.1f} MiB (target < 64 MiB)")


if __name__ == "__main__":
    main()
