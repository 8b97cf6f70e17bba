"""kill -9 in the middle of uploads: after a restart every object is absent or whole, and nothing is left behind."""

import hashlib
import os
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


def blobs_on_disk(server) -> set[str]:
    root = Path(server.data_dir) / "objects" / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file()}


def blobs_referenced(server) -> set[str]:
    with sqlite3.connect(Path(server.data_dir) / "silvereye.db") as db:
        return {r[0] for r in db.execute("SELECT DISTINCT blob FROM s3_extents")}


def temporaries(server) -> list[str]:
    return os.listdir(Path(server.data_dir) / "objects" / "tmp")


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_put_killed_midway_leaves_no_object_and_no_leftovers(server, tmp_path):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="crash")
    s3.put_object(Bucket="crash", Key="before", Body=b"committed before the crash")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(256):
            f.write(os.urandom(MiB))
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "crash", "Key": "big.bin"}, ExpiresIn=600)
    upload = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--limit-rate", "20M", "-X", "PUT", "--upload-file",
                               str(big), url])
    try:
        # wait until the server is writing the body to a temporary file, then kill it hard
        assert wait_for(lambda: any(os.path.getsize(Path(server.data_dir) / "objects" / "tmp" / t) > 8 * MiB
                                    for t in temporaries(server)))
        server.kill()  # SIGKILL
    finally:
        upload.wait(timeout=60)
    assert temporaries(server), "the kill should have interrupted a write in progress"

    server.start()
    assert temporaries(server) == []
    assert blobs_on_disk(server) == blobs_referenced(server)
    s3 = server.client("s3")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="crash", Key="big.bin")
    assert e.value.response["Error"]["Code"] == "404"
    assert s3.get_object(Bucket="crash", Key="before")["Body"].read() == b"committed before the crash"


def test_objects_acknowledged_before_the_kill_are_whole_after_it(server, tmp_path):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="durable")
    data = os.urandom(20 * MiB)
    s3.put_object(Bucket="durable", Key="whole.bin", Body=data)
    up = s3.create_multipart_upload(Bucket="durable", Key="mp.bin")["UploadId"]
    part = s3.upload_part(Bucket="durable", Key="mp.bin", UploadId=up, PartNumber=1, Body=data[: 6 * MiB])
    server.restart()  # SIGKILL, then start again
    s3 = server.client("s3")
    got = s3.get_object(Bucket="durable", Key="whole.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    parts = s3.list_parts(Bucket="durable", Key="mp.bin", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, part["ETag"])]
    last = s3.upload_part(Bucket="durable", Key="mp.bin", UploadId=up, PartNumber=2, Body=b"end")
    s3.complete_multipart_upload(Bucket="durable", Key="mp.bin", UploadId=up, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": part["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]})
    assert s3.get_object(Bucket="durable", Key="mp.bin")["Body"].read() == data[: 6 * MiB] + b"end"
    assert blobs_on_disk(server) == blobs_referenced(server)


def test_a_huge_content_length_with_a_short_body_stores_nothing(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="short", ACL="public-read-write")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"PUT /short/liar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5368709120\r\n\r\n" + b"x" * 100_000)
        time.sleep(0.5)
    assert wait_for(lambda: temporaries(server) == [], timeout=10)
    assert "Contents" not in s3.list_objects_v2(Bucket="short")
    assert blobs_on_disk(server) == blobs_referenced(server)
