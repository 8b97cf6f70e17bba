"""Versioning: enabling and suspending, versions and delete markers, reads and deletes by version id."""

import pytest
from botocore.exceptions import ClientError


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def test_a_new_bucket_is_unversioned(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True)]


def test_every_write_is_kept_and_readable_by_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="doc", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="doc", Body=b"two")["VersionId"]
    assert v1 != v2 and len(v1) == 32
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"two"
    assert s3.get_object(Bucket=bucket, Key="doc", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="doc")["VersionId"] == v2
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [(v2, True), (v1, False)]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="doc", VersionId="A" * 32)
    assert code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="doc", VersionId="bad id")
    assert code(e) == "InvalidArgument"


def test_delete_adds_a_marker_and_deleting_the_marker_restores(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    out = s3.delete_object(Bucket=bucket, Key="k")
    assert out["DeleteMarker"] is True
    marker = out["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "NoSuchKey"
    headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert code(e) == "MethodNotAllowed"
    assert s3.list_objects_v2(Bucket=bucket).get("Contents") is None
    listed = s3.list_object_versions(Bucket=bucket)
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == [marker]
    assert listed["DeleteMarkers"][0]["IsLatest"] and not listed["Versions"][0]["IsLatest"]
    gone = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert gone["DeleteMarker"] is True and gone["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == v1


def test_deleting_a_version_frees_it_for_good(server, s3, bucket):
    from silvereye.services.s3.blobstore import for_config

    blobs = for_config(server.config)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    before = blobs.usage()
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"a" * 1000)["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"b" * 10)["VersionId"]
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == v1  # the older one is current again
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert blobs.usage() == before
    s3.delete_bucket(Bucket=bucket)


def test_suspended_versioning_writes_and_deletes_the_null_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"null 1")["VersionId"] == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"null 2")
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert ids == ["null", kept]  # the null version was replaced, not added
    out = s3.delete_object(Bucket=bucket, Key="k")
    assert out["DeleteMarker"] and out["VersionId"] == "null"
    listed = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listed["Versions"]] == [kept]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Off"})
    assert code(e) in ("IllegalVersioningConfigurationException", "MalformedXML")


def test_version_listing_pages_with_key_and_version_markers(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    made = []
    for key in ("a", "b"):
        for n in range(3):
            made.append((key, s3.put_object(Bucket=bucket, Key=key, Body=str(n).encode())["VersionId"]))
    expected = [("a", v) for k, v in reversed(made) if k == "a"] + [("b", v) for k, v in reversed(made) if k == "b"]
    seen, kw = [], {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **kw)
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == expected
