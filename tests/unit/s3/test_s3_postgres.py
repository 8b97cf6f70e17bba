"""The same S3 on PostgreSQL, the store several frontends share: byte-ordered keys, locking, versions."""

import concurrent.futures
import os

import pytest

from tests.fixtures.postgres import postgres_server
from tests.unit.s3.harness import InProcessServer


@pytest.fixture(scope="module")
def pg_s3(tmp_path_factory):
    with postgres_server() as url:
        server = InProcessServer(tmp_path_factory.mktemp("s3pg"), store_url=url).start()
        try:
            yield server, server.client("s3", server.account("pgacct"))
        finally:
            server.stop()


def test_a_session_on_postgresql(pg_s3):
    server, s3 = pg_s3
    s3.create_bucket(Bucket="pg-bucket")
    keys = ["b", "a/2", "a/1", "Z", "ä", "a b"]
    for key in keys:
        s3.put_object(Bucket="pg-bucket", Key=key, Body=key.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="pg-bucket")["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())  # byte order, whatever the database's collation
    top = s3.list_objects_v2(Bucket="pg-bucket", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/"]
    up = s3.create_multipart_upload(Bucket="pg-bucket", Key="mp")["UploadId"]
    parts = [os.urandom(5 * 1024 * 1024), b"end"]
    done = [{"PartNumber": i, "ETag": s3.upload_part(Bucket="pg-bucket", Key="mp", UploadId=up, PartNumber=i,
                                                      Body=p)["ETag"]} for i, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket="pg-bucket", Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket="pg-bucket", Key="mp")["Body"].read() == b"".join(parts)
    s3.copy_object(Bucket="pg-bucket", Key="mp-copy", CopySource="pg-bucket/mp")
    s3.put_bucket_versioning(Bucket="pg-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="pg-bucket", Key="b", Body=b"b2")
    s3.delete_object(Bucket="pg-bucket", Key="b")
    versions = s3.list_object_versions(Bucket="pg-bucket", Prefix="b")
    assert len(versions["Versions"]) == 2 and len(versions["DeleteMarkers"]) == 1


def test_concurrent_writes_of_one_key_serialize(pg_s3):
    server, s3 = pg_s3
    s3.create_bucket(Bucket="pg-race")
    bodies = [str(i).encode() * 1000 for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: s3.put_object(Bucket="pg-race", Key="hot", Body=b), bodies))
    versions = s3.list_object_versions(Bucket="pg-race")["Versions"]
    assert [v["VersionId"] for v in versions] == ["null"]  # one null version, no duplicate rows
    assert s3.get_object(Bucket="pg-race", Key="hot")["Body"].read() in bodies
