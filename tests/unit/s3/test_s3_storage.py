"""The blob store: atomic writes, what a crash leaves and the sweep that clears it, and bodies that never arrive."""

import os
import socket
import time

import pytest

from silvereye.services.s3.blobstore import BlobStore

GiB = 1024**3


def test_a_blob_is_invisible_until_committed_and_gone_when_aborted(tmp_path):
    store = BlobStore(tmp_path)
    store.ensure()
    tmp = store.temp()
    tmp.write(b"half")
    assert os.listdir(store.tmp) == [os.path.basename(tmp.path)]
    assert store.usage() == 0
    tmp.abort()
    assert os.listdir(store.tmp) == []
    done = store.temp()
    done.write(b"whole")
    blob = done.commit()
    assert open(store.path(blob), "rb").read() == b"whole"
    assert os.stat(store.path(blob)).st_mode & 0o777 == 0o600
    assert os.listdir(store.tmp) == []


def test_blob_ids_never_become_other_paths(tmp_path):
    store = BlobStore(tmp_path)
    for bad in ("../../etc/passwd", "/etc/passwd", "ab" * 20, "ABCDEF" + "0" * 26, "a\x00b"):
        with pytest.raises(ValueError):
            store.path(bad)


def test_the_start_up_sweep_removes_leftovers_and_keeps_what_is_referenced(tmp_path):
    store = BlobStore(tmp_path)
    store.ensure()
    kept, orphan = store.temp(), store.temp()
    kept.write(b"k")
    orphan.write(b"o")
    kept_id, orphan_id = kept.commit(), orphan.commit()
    interrupted = store.temp()
    interrupted.write(b"partial upload")  # the process died here
    stray = os.path.join(store.blobs, "00", "not-a-blob")
    open(stray, "w").close()
    report = store.sweep(lambda ids: {i for i in ids if i == kept_id})
    assert (report.temporary, report.unreferenced) == (1, 2)
    assert os.path.exists(store.path(kept_id)) and not os.path.exists(store.path(orphan_id))
    assert os.listdir(store.tmp) == [] and not os.path.exists(stray)


def _read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def _raw_put(port: int, path: str, declared: int, send: bytes, *, wait_for_answer: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {declared}\r\n\r\n".encode() + send)
        if wait_for_answer:
            return _read_until_closed(sock)
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_RDWR)
    return b""


def _wait_empty(directory, timeout=10.0) -> list[str]:
    deadline = time.time() + timeout
    while os.listdir(directory) and time.time() < deadline:
        time.sleep(0.05)
    return os.listdir(directory)


def test_a_client_that_hangs_up_mid_body_leaves_nothing(server, s3, bucket):
    from silvereye.services.s3.blobstore import for_config

    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    blobs = for_config(server.config)
    before = blobs.usage()
    _raw_put(server.port, f"/{bucket}/cut-short", 5 * GiB, os.urandom(3 * 1024 * 1024), wait_for_answer=False)
    assert _wait_empty(blobs.tmp) == []
    assert blobs.usage() == before
    assert s3.list_objects_v2(Bucket=bucket).get("Contents") is None


def test_more_than_5_gib_in_one_put_is_refused_before_any_byte_is_read(server, s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    answer = _raw_put(server.port, f"/{bucket}/huge", 5 * GiB + 1, b"tiny", wait_for_answer=True)
    assert answer.startswith(b"HTTP/1.1 400") and b"EntityTooLarge" in answer
    assert b"connection: close" in answer.lower()


def test_a_missing_content_length_is_refused(server, s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"PUT /{bucket}/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4\r\nabcd\r\n0\r\n\r\n".encode())
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 411") and b"MissingContentLength" in answer
