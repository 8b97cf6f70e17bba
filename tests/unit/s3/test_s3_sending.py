"""Object bytes going out: zero-copy sendfile on plain HTTP, the same bytes in every case, clients that hang up."""

import os
import socket
import time

import pytest

from silvereye.services.gateway import filesend

MiB = 1024 * 1024


@pytest.fixture
def counted_sendfile(monkeypatch):
    calls = []
    real = os.sendfile

    def sendfile(out_fd, in_fd, offset, count):
        n = real(out_fd, in_fd, offset, count)
        calls.append(n)
        return n

    monkeypatch.setattr(filesend.os, "sendfile", sendfile)
    return calls


def test_large_bodies_go_out_with_sendfile(s3, bucket, counted_sendfile):
    data = os.urandom(3 * MiB + 123)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == data
    assert sum(counted_sendfile) == len(data)
    counted_sendfile.clear()
    assert s3.get_object(Bucket=bucket, Key="big", Range="bytes=1000-1999")["Body"].read() == data[1000:2000]
    assert counted_sendfile == []  # small: sent from Python


def test_several_extents_in_one_response(s3, bucket, counted_sendfile):
    parts = [os.urandom(5 * MiB), os.urandom(MiB)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    done = [{"PartNumber": i, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=i,
                                                      Body=p)["ETag"]} for i, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    span = f"bytes={4 * MiB}-{5 * MiB + 500_000}"
    assert s3.get_object(Bucket=bucket, Key="mp", Range=span)["Body"].read() == (parts[0] + parts[1])[4 * MiB:5 * MiB + 500_001]
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)


def test_a_client_that_leaves_mid_download_does_not_disturb_the_server(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="long", Body=os.urandom(64 * MiB), ACL="public-read")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(f"GET /{bucket}/long HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got = 0
        while got < 2 * MiB:
            got += len(sock.recv(65536))
    time.sleep(0.5)
    assert s3.head_object(Bucket=bucket, Key="long")["ContentLength"] == 64 * MiB
    assert len(s3.get_object(Bucket=bucket, Key="long", Range="bytes=0-9")["Body"].read()) == 10
