"""Object bytes going out: several extents in one response, and clients that hang up mid-download."""

import os
import socket
import time

from silvereye.services.gateway import filesend

MiB = 1024 * 1024


def open_blob_descriptors(server) -> list[str]:
    """Descriptors of this process (the in-process server's) open on blobs."""
    blobs = str(server.config.objects_path / "blobs")
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(blobs):
            found.append(target)
    return found


def test_several_extents_in_one_response(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(MiB)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    done = [{"PartNumber": i, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=i,
                                                      Body=p)["ETag"]} for i, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    span = f"bytes={4 * MiB}-{5 * MiB + 500_000}"
    whole = parts[0] + parts[1]
    assert s3.get_object(Bucket=bucket, Key="mp", Range=span)["Body"].read() == whole[4 * MiB:5 * MiB + 500_001]
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == whole


def test_a_client_that_leaves_mid_download_stops_the_sending(server, s3, bucket, monkeypatch):
    s3.put_object(Bucket=bucket, Key="long", Body=os.urandom(256 * MiB), ACL="public-read")
    read = []
    real_pread = os.pread

    def counted(fd, n, offset):
        data = real_pread(fd, n, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(filesend.os, "pread", counted)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(f"GET /{bucket}/long HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = 0
        while got < 2 * MiB:
            got += len(sock.recv(65536))
        assert open_blob_descriptors(server)  # the response holds the blob open while it sends
    deadline = time.time() + 10
    while open_blob_descriptors(server) and time.time() < deadline:
        time.sleep(0.05)
    assert open_blob_descriptors(server) == []
    assert sum(read) < 64 * MiB  # it stopped reading when the client left, not at the end of the object
    assert len(s3.get_object(Bucket=bucket, Key="long", Range="bytes=0-9")["Body"].read()) == 10
