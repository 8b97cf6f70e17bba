"""CopyObject: metadata directives, conditions, other buckets, and copying onto itself."""

import pytest
from botocore.exceptions import ClientError


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def test_copy_keeps_bytes_and_metadata_by_default(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"original", ContentType="text/plain", Metadata={"a": "1"})
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"original"
    assert (got["ContentType"], got["Metadata"]) == ("text/plain", {"a": "1"})
    assert out["CopyObjectResult"]["ETag"] == got["ETag"]


def test_replace_takes_metadata_from_the_request(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="image/png")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["Metadata"], head["ContentType"]) == ({"b": "2"}, "image/png")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", MetadataDirective="MERGE")
    assert code(e) == "InvalidArgument"


def test_copy_onto_itself_must_change_something(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"x", Metadata={"v": "1"})
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self")
    assert code(e) == "InvalidRequest" and "copy an object to itself" in e.value.response["Error"]["Message"]
    s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self", MetadataDirective="REPLACE",
                   Metadata={"v": "2"})
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="self")["Body"].read() == b"x"


def test_copy_across_buckets_and_source_deletion_keeps_the_copy(server, s3, bucket):
    from silvereye.services.s3.blobstore import for_config

    s3.create_bucket(Bucket=bucket + "-2")
    s3.put_object(Bucket=bucket, Key="shared", Body=b"z" * 10_000)
    usage = for_config(server.config).usage()
    s3.copy_object(Bucket=bucket + "-2", Key="copy", CopySource=f"{bucket}/shared")
    assert for_config(server.config).usage() == usage  # the bytes are shared, not duplicated
    s3.delete_object(Bucket=bucket, Key="shared")
    assert s3.get_object(Bucket=bucket + "-2", Key="copy")["Body"].read() == b"z" * 10_000
    s3.delete_object(Bucket=bucket + "-2", Key="copy")
    assert for_config(server.config).usage() == usage - 10_000


def test_copy_conditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"x")["ETag"]
    s3.copy_object(Bucket=bucket, Key="d1", CopySource=f"{bucket}/src", CopySourceIfMatch=etag)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d2", CopySource=f"{bucket}/src", CopySourceIfNoneMatch=etag)
    assert code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d2", CopySource=f"{bucket}/src", CopySourceIfMatch='"nope"')
    assert code(e) == "PreconditionFailed"


def test_copy_from_missing_sources(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource=f"{bucket}/missing")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d", CopySource="no-such-bucket-here/k")
    assert code(e) == "NoSuchBucket"


def test_copy_needs_read_access_to_the_source(server, s3, bucket, other):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s")
    theirs = server.client("s3", other)
    theirs.create_bucket(Bucket=bucket + "-theirs")
    with pytest.raises(ClientError) as e:
        theirs.copy_object(Bucket=bucket + "-theirs", Key="stolen", CopySource=f"{bucket}/secret")
    assert code(e) == "AccessDenied"
