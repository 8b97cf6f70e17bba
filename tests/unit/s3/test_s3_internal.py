"""The internal API EC2 uses: the cloud's own hidden buckets, files in and out, and access checks for users' objects."""

import json
import os
import subprocess

import pytest

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.iam.credentials import StoreCredentialResolver
from silvereye.services.s3 import internal

SYSTEM = "silvereye-system-snapshots"


def test_system_buckets_are_hidden_and_closed_to_users(server, s3):
    internal.ensure_system_bucket(server.store, server.config, SYSTEM)
    internal.ensure_system_bucket(server.store, server.config, SYSTEM)  # idempotent
    assert SYSTEM not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    internal.put_chunks(server.store, server.config, SYSTEM, "snap-1/data", [b"disk ", b"bytes"])
    with pytest.raises(Exception) as e:
        s3.get_object(Bucket=SYSTEM, Key="snap-1/data")
    assert "AccessDenied" in str(e.value)
    with pytest.raises(ValueError):
        internal.ensure_system_bucket(server.store, server.config, "user-bucket")


def test_files_in_and_out(server, tmp_path):
    internal.ensure_system_bucket(server.store, server.config, SYSTEM)
    src = tmp_path / "volume.img"
    data = os.urandom(3 * 1024 * 1024 + 5)
    src.write_bytes(data)
    info = internal.put_file(server.store, server.config, SYSTEM, "vol/copy", src, content_type="application/x-raw",
                             metadata={"Volume": "vol-1"})
    assert src.exists() and info.size == len(data) and info.metadata == {"volume": "vol-1"}
    with internal.open_object(server.store, server.config, SYSTEM, "vol/copy") as obj:
        assert obj.size == len(data) and b"".join(obj.iter_chunks()) == data
        # a child process (qemu-img, say) can read it by path while it is open, even once deleted
        internal.delete_object(server.store, server.config, SYSTEM, "vol/copy")
        digest = subprocess.run(["sha256sum", obj.path], capture_output=True, text=True, check=True).stdout.split()[0]
        import hashlib

        assert digest == hashlib.sha256(data).hexdigest()
    assert internal.head(server.store, SYSTEM, "vol/copy") is None
    with pytest.raises(ServiceError) as e:
        internal.open_object(server.store, server.config, SYSTEM, "vol/copy")
    assert e.value.code == "NoSuchKey"


def test_moving_a_file_in_takes_it_over(server, tmp_path):
    internal.ensure_system_bucket(server.store, server.config, SYSTEM)
    src = server.config.data_path / "snapshot-scratch.qcow2"
    src.write_bytes(b"q" * 100_000)
    info = internal.put_file(server.store, server.config, SYSTEM, "snap-2/data", src, move=True)
    assert not src.exists() and info.size == 100_000
    assert internal.list_keys(server.store, SYSTEM, "snap-2/") == ["snap-2/data"]
    out = tmp_path / "out"
    with internal.open_object(server.store, server.config, SYSTEM, "snap-2/data") as obj:
        obj.copy_to(out)
    assert out.read_bytes() == b"q" * 100_000


def test_a_large_file_moved_in_with_crc32c_integrity(server):
    """Snapshots: a CRC32C (hardware-fast) instead of an MD5; the ETag says it is no MD5 (multipart form)."""
    import base64
    import hashlib

    import google_crc32c

    internal.ensure_system_bucket(server.store, server.config, SYSTEM)
    data = os.urandom(2 * 1024 * 1024 + 17)
    src = server.config.data_path / "snapshot-crc.qcow2"
    src.write_bytes(data)
    info = internal.put_file(server.store, server.config, SYSTEM, "snap-3/data", src, move=True, integrity="crc32c")
    assert not src.exists() and info.size == len(data)
    assert info.etag.endswith("-1") and info.etag[:-2] != hashlib.md5(data).hexdigest()
    from silvereye.services.s3 import catalog

    with server.store.read() as conn:
        row = catalog.latest(conn, SYSTEM, b"snap-3/data")
    assert row.checksum == {"algorithm": "CRC32C", "type": "FULL_OBJECT",
                                "value": base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()}
    with internal.open_object(server.store, server.config, SYSTEM, "snap-3/data") as obj:
        assert b"".join(obj.iter_chunks()) == data
    with pytest.raises(ValueError):
        internal.put_file(server.store, server.config, SYSTEM, "snap-4/data", src, integrity="sha1")


def test_streams_from_the_event_loop(server):
    internal.ensure_system_bucket(server.store, server.config, SYSTEM)

    async def parts():
        for i in range(5):
            yield bytes([i]) * 300_000

    info = server.run(internal.put_stream(server.store, server.config, SYSTEM, "stream", parts()))
    assert info.size == 1_500_000


def test_can_read_decides_like_a_get(server, s3, bucket, acme, other):
    s3.put_object(Bucket=bucket, Key="image.manifest.xml", Body=b"<manifest/>")
    resolver = StoreCredentialResolver(server.store)
    owner = resolver.lookup(acme.access_key).principal
    stranger = resolver.lookup(other.access_key).principal
    assert internal.can_read(server.store, owner, bucket, "image.manifest.xml")
    assert not internal.can_read(server.store, stranger, bucket, "image.manifest.xml")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": other.account_id}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    assert internal.can_read(server.store, stranger, bucket, "image.manifest.xml")
    assert not internal.can_read(server.store, stranger, bucket, "missing")
    assert not internal.can_read(server.store, stranger, "no-such-bucket-x", "k")
