"""boto3 over TLS sends bodies aws-chunked, unsigned, with the checksum in a trailer: the path modern SDKs take."""

import base64
import os
import zlib

import boto3
import pytest
from botocore.config import Config

from tests.fixtures.server import RunningServer

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")]
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    server = RunningServer(tmp_path_factory.mktemp("tls"), extra={"api": {"tls": True}}).start()
    yield server
    server.kill()


def test_trailing_checksums_are_verified_and_kept(tls_server, tmp_path):
    s3 = boto3.client("s3", endpoint_url=f"https://127.0.0.1:{tls_server.port}", region_name=tls_server.region,
                      aws_access_key_id=tls_server.access_key, aws_secret_access_key=tls_server.secret_key,
                      verify=False, config=Config(retries={"max_attempts": 1}))
    s3.create_bucket(Bucket="tls")
    seen = []
    s3.meta.events.register("before-send.s3.PutObject",
                            lambda request, **kw: seen.append({k.lower(): v for k, v in request.headers.items()}))
    body = os.urandom(3 * MiB + 11)
    out = s3.put_object(Bucket="tls", Key="trailer.bin", Body=body, ChecksumAlgorithm="CRC32")
    assert seen[0]["x-amz-content-sha256"] in (b"STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert seen[0]["x-amz-trailer"] in (b"x-amz-checksum-crc32", "x-amz-checksum-crc32")
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert out["ChecksumCRC32"] == crc
    got = s3.get_object(Bucket="tls", Key="trailer.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got["ChecksumCRC32"] == crc

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MiB))
    s3.upload_file(str(big), "tls", "multipart.bin")
    head = s3.head_object(Bucket="tls", Key="multipart.bin", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"') and head["ChecksumCRC32"].endswith("-3")
    back = tmp_path / "back.bin"
    s3.download_file("tls", "multipart.bin", str(back))
    assert back.read_bytes() == big.read_bytes()
