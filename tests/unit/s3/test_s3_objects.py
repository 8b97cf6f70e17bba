"""Objects: bytes, metadata and headers in and out, digests, ranges, conditions, deletes and copies."""

import base64
import datetime as dt
import hashlib
import zlib

import google_crc32c
import pytest
from botocore.exceptions import ClientError


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_put_then_get_returns_bytes_metadata_and_content_headers(s3, bucket):
    out = s3.put_object(Bucket=bucket, Key="docs/readme.txt", Body=b"hello, world", ContentType="text/plain",
                        ContentDisposition='attachment; filename="r.txt"', CacheControl="max-age=60",
                        ContentLanguage="en", Metadata={"Owner": "alice", "project": "x"})
    assert out["ETag"] == '"%s"' % hashlib.md5(b"hello, world").hexdigest()
    got = s3.get_object(Bucket=bucket, Key="docs/readme.txt")
    assert got["Body"].read() == b"hello, world"
    assert got["ContentType"] == "text/plain"
    assert got["ContentDisposition"] == 'attachment; filename="r.txt"'
    assert (got["CacheControl"], got["ContentLanguage"]) == ("max-age=60", "en")
    assert got["Metadata"] == {"owner": "alice", "project": "x"}
    assert got["ContentLength"] == 12 and got["ETag"] == out["ETag"]
    head = s3.head_object(Bucket=bucket, Key="docs/readme.txt")
    assert head["ContentLength"] == 12 and head["Metadata"] == got["Metadata"]
    assert "VersionId" not in head  # never-versioned bucket


def test_an_object_without_a_content_type_is_binary(s3, bucket):
    s3.put_object(Bucket=bucket, Key="blob", Body=b"\x00\x01")
    assert s3.head_object(Bucket=bucket, Key="blob")["ContentType"] == "binary/octet-stream"


def test_empty_objects(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_content_md5_is_checked(s3, bucket):
    body = b"checked bytes"
    s3.put_object(Bucket=bucket, Key="ok", Body=body, ContentMD5=b64(hashlib.md5(body).digest()))
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5="not-base64!")
    assert code(e) == "InvalidDigest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad")
    assert e.value.response["Error"]["Code"] == "404"  # a refused upload leaves nothing


@pytest.mark.parametrize("algorithm, compute", [
    ("CRC32", lambda b: zlib.crc32(b).to_bytes(4, "big")),
    ("CRC32C", lambda b: google_crc32c.value(b).to_bytes(4, "big")),
    ("SHA1", lambda b: hashlib.sha1(b).digest()),
    ("SHA256", lambda b: hashlib.sha256(b).digest()),
])
def test_flexible_checksums_are_verified_stored_and_returned(s3, bucket, algorithm, compute):
    body = b"checksummed " * 1000
    if algorithm != "CRC32C":  # botocore computes CRC32C only with awscrt: send that one's value ourselves
        out = s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
    else:
        out = s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumCRC32C=b64(compute(body)))
    assert out[f"Checksum{algorithm}"] == b64(compute(body))
    got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"] == b64(compute(body)) and got["ChecksumType"] == "FULL_OBJECT"
    assert f"Checksum{algorithm}" not in s3.get_object(Bucket=bucket, Key=algorithm, Range="bytes=0-9",
                                                       ChecksumMode="ENABLED")  # not for part of the object


def test_a_wrong_checksum_header_is_bad_digest(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumSHA256=b64(hashlib.sha256(b"else").digest()))
    assert code(e) == "BadDigest"
    assert "SHA256" in e.value.response["Error"]["Message"]


def test_ranges(s3, bucket):
    body = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 10-19/1024" and got["Body"].read() == body[10:20]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == body[1000:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-5000")["ContentLength"] == 24
    whole = s3.get_object(Bucket=bucket, Key="r", Range="bytes=9-3")  # not a valid range: ignored
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200 and whole["ContentLength"] == 1024
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=1024-")
    assert code(e) == "InvalidRange"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    assert e.value.response["Error"]["ActualObjectSize"] == "1024"
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=0-0")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206 and head["ContentLength"] == 1


def test_conditional_reads(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert code(e) == "PreconditionFailed" and e.value.response["Error"]["Condition"] == "If-Match"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=modified)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    earlier = modified - dt.timedelta(days=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=earlier)["ContentLength"] == 11
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=earlier)
    assert code(e) == "PreconditionFailed"
    # If-Match holding wins over a failing If-Unmodified-Since (RFC 9110, as S3)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=earlier)["ContentLength"] == 11


def test_response_header_overrides(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="application/json",
                        ResponseContentDisposition="inline", ResponseCacheControl="no-cache")
    assert (got["ContentType"], got["ContentDisposition"], got["CacheControl"]) == ("application/json", "inline", "no-cache")
    s3.put_object_acl(Bucket=bucket, Key="o", ACL="public-read")
    anonymous = server.client("s3", None)
    assert anonymous.get_object(Bucket=bucket, Key="o")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        anonymous.get_object(Bucket=bucket, Key="o", ResponseContentType="text/html")
    assert code(e) == "InvalidRequest"


def test_missing_keys_and_deletes(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code(e) == "NoSuchKey" and e.value.response["Error"]["Key"] == "nope"
    s3.put_object(Bucket=bucket, Key="gone", Body=b"1")
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="gone")["ResponseMetadata"]["HTTPStatusCode"] == 204  # idempotent
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="gone")


def test_delete_objects_reports_each_key_and_can_be_quiet(s3, bucket):
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["a", "b", "zz"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_overwriting_and_deleting_free_the_old_bytes(server, s3, bucket):
    from silvereye.services.s3.blobstore import for_config

    blobs = for_config(server.config)
    before = blobs.usage()
    s3.put_object(Bucket=bucket, Key="big", Body=b"a" * 100_000)
    s3.put_object(Bucket=bucket, Key="big", Body=b"b" * 50_000)
    assert blobs.usage() - before == 50_000
    s3.delete_object(Bucket=bucket, Key="big")
    assert blobs.usage() == before


@pytest.mark.parametrize("key", ["../../etc/passwd", "/absolute/path", "a/../../b", "..", "dir//double", " spaced ",
                                 "ünïcødé/ключ/キー", "%2e%2e/encoded", "a\\b"])
def test_any_key_is_a_name_never_a_path(server, s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert key in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    objects_dir = server.config.objects_path
    for path in objects_dir.rglob("*"):
        assert path.is_dir() or (path.parent.parent.name == "blobs" and len(path.name) == 32), path
    assert not (server.root / "etc").exists()


def test_keys_s3_cannot_hold_are_refused(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code(e) == "KeyTooLongError"
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")  # the limit itself is fine
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="nul\x00byte", Body=b"x")
    assert code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="e" * 300 + "é" * 400, Body=b"x")  # 1100 bytes of UTF-8
    assert code(e) == "KeyTooLongError"


def test_storage_classes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    assert s3.head_object(Bucket=bucket, Key="ia")["StorageClass"] == "STANDARD_IA"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", StorageClass="GOLD")
    assert code(e) == "InvalidStorageClass"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="GLACIER")
    assert code(e) == "NotImplemented"


def test_conditional_writes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


def test_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="env=prod&team=a%20b")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "env", "Value": "prod"},
                                                                      {"Key": "team", "Value": "a b"}]
    assert s3.head_object(Bucket=bucket, Key="t").get("ResponseMetadata")["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "only", "Value": "1"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "only", "Value": "1"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": f"k{i}", "Value": ""} for i in range(11)]})
    assert code(e) == "InvalidTag"


def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "cost", "Value": "lab"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "cost", "Value": "lab"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


@pytest.mark.parametrize("extra", [{"ServerSideEncryption": "AES256"}, {"ServerSideEncryption": "aws:kms"},
                                   {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32},
                                   {"ObjectLockMode": "GOVERNANCE",
                                    "ObjectLockRetainUntilDate": "2030-01-01T00:00:00Z"}])
def test_encryption_and_object_lock_are_refused_not_pretended(s3, bucket, extra):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", **extra)
    assert code(e) == "NotImplemented"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_part_number_reads(s3, bucket):
    s3.put_object(Bucket=bucket, Key="whole", Body=b"single")
    got = s3.get_object(Bucket=bucket, Key="whole", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200 and got["Body"].read() == b"single"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="whole", PartNumber=2)
    assert code(e) == "InvalidPartNumber"
