"""S3 throughput: silvereye against nginx (the static-file limit) and moto_server, in one run.

What is measured, on loopback, each server on its own free port:

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


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


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


def best_of(n: int, fn) -> float:  # noqa: ANN001
    return max(fn() for _ in range(n))


def in_threads(fn, items) -> float:  # noqa: ANN001
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(fn, items))
    return time.perf_counter() - started


def bench_s3(name: str, client, pid: int, big: Path, size: int, small: int, work: Path) -> dict:  # noqa: ANN001
    out: dict = {"server": name}
    client.create_bucket(Bucket="bench")
    transfer = TransferConfig()  # boto3's defaults: 8 MiB parts, 10 threads
    with PeakRss(pid) as peak:
        put_seconds = timed(client.upload_file, str(big), "bench", "big.bin", Config=transfer)
    out["large_put_mib_s"] = size / MiB / put_seconds
    out["large_put_rss_growth_mib"] = peak.growth_mib
    url = client.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "big.bin"}, ExpiresIn=3600)
    out["large_get_urllib3_mib_s"] = best_of(3, lambda: size / MiB / timed(urllib3_get, url))
    out["large_get_curl_mib_s"] = best_of(3, lambda: curl_get(url))
    def streamed() -> float:
        body = client.get_object(Bucket="bench", Key="big.bin")["Body"]
        started, n = time.perf_counter(), 0
        while chunk := body.read(MiB):
            n += len(chunk)
        return n / MiB / (time.perf_counter() - started)

    out["large_get_boto3_stream_mib_s"] = best_of(3, streamed)
    target = work / f"{name}-download.bin"
    out["large_get_download_file_mib_s"] = best_of(2, lambda: size / MiB / timed(
        client.download_file, "bench", "big.bin", str(target), Config=transfer))
    if os.path.getsize(target) != size:
        raise RuntimeError(f"{name}: downloaded {os.path.getsize(target)} bytes of {size}")
    target.unlink()
    body = os.urandom(4096)
    keys = [f"small/{i:05d}" for i in range(small)]
    out["small_put_per_s"] = small / in_threads(lambda k: client.put_object(Bucket="bench", Key=k, Body=body), keys)
    out["small_get_per_s"] = small / in_threads(lambda k: client.get_object(Bucket="bench", Key=k)["Body"].read(), keys)
    urls = [client.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": k}, ExpiresIn=3600) for k in keys]
    pool = urllib3.PoolManager(maxsize=THREADS)
    out["small_get_urllib3_per_s"] = small / in_threads(lambda u: small_get(pool, u), urls)
    out["idle_rss_mib"] = rss_kib(pid) / 1024
    return out


def bench_nginx(root: Path, big: Path, size: int, small: int) -> dict:
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
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}"
        pool = urllib3.PoolManager(maxsize=THREADS)
        urls = [f"{url}/small/{i:05d}" for i in range(small)]
        return {
            "server": "nginx",
            "large_get_urllib3_mib_s": best_of(3, lambda: size / MiB / timed(urllib3_get, f"{url}/big.bin")),
            "large_get_curl_mib_s": best_of(3, lambda: curl_get(f"{url}/big.bin")),
            "small_get_urllib3_per_s": small / in_threads(lambda u: small_get(pool, u), urls),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = args.size_mib * MiB
    root = Path(tempfile.mkdtemp(prefix="s3-bench-"))
    root.chmod(0o755)  # nginx's workers run as nobody
    results = []
    try:
        big = root / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MiB))
        results.append(bench_nginx(root / "nginx", big, size, args.small))
        results[0].update(size_mib=args.size_mib, small=args.small)

        (root / "silvereye").mkdir()
        server = RunningServer(root / "silvereye").start()
        try:
            client = s3_client(server.url, server.access_key, server.secret_key, server.region)
            results.append(bench_s3("silvereye", client, server.proc.pid, big, size, args.small, root))
        finally:
            server.stop()

        moto, port = start_moto(root)
        try:
            client = s3_client(f"http://127.0.0.1:{port}", "bench", "bench", "us-east-1")
            results.append(bench_s3("moto", client, moto.pid, big, size, args.small, root))
        finally:
            os.killpg(moto.pid, 15)
            moto.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(results, args.json)


def report(results: list[dict], as_json: bool) -> None:
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
        print(json.dumps({"results": results, "ratios": verdict}, indent=2))
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
    print(f"object sizes: large {results[0]['size_mib']} MiB, small 4 KiB x {results[0]['small']}")
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
