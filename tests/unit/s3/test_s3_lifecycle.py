"""Lifecycle: configurations S3 accepts or refuses, when rules fall due, and the controller carrying them out."""

import datetime as dt
import time

import pytest
from botocore.exceptions import ClientError

from silvereye.services.s3 import lifecycle, lifecycle_rules
from silvereye.services.s3.catalog import Version

UTC = dt.timezone.utc
MIDNIGHT_PAST = dt.datetime(2020, 1, 1, tzinfo=UTC)


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def rule(**kw):
    return {"ID": kw.pop("ID", "r"), "Status": "Enabled", "Filter": {"Prefix": kw.pop("prefix", "")}, **kw}


def test_configuration_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(e) == "NoSuchLifecycleConfiguration"
    rules = [rule(ID="logs", prefix="logs/", Expiration={"Days": 30}),
             rule(ID="old", NoncurrentVersionExpiration={"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}),
             rule(ID="mpu", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 3}),
             rule(ID="date", prefix="tmp/", Expiration={"Date": dt.datetime(2031, 1, 1, tzinfo=UTC)})]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "old", "mpu", "date"]
    assert got[3]["Expiration"]["Date"] == dt.datetime(2031, 1, 1, tzinfo=UTC)
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


@pytest.mark.parametrize("bad, expected", [
    (rule(Expiration={"Days": 0}), "InvalidArgument"),
    (rule(Expiration={"Date": dt.datetime(2031, 1, 1, 12, tzinfo=UTC)}), "InvalidArgument"),
    (rule(), "InvalidRequest"),
    (rule(Transitions=[{"Days": 30, "StorageClass": "GLACIER"}]), "NotImplemented"),
    ({"ID": "x", "Status": "Enabled", "Prefix": "a", "Filter": {"Prefix": "b"}, "Expiration": {"Days": 1}}, "MalformedXML"),
])
def test_configurations_s3_refuses(s3, bucket, bad, expected):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [bad]})
    assert code(e) == expected
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            rule(ID="same", Expiration={"Days": 1}), rule(ID="same", Expiration={"Days": 2})]})
    assert code(e) == "InvalidArgument"


def test_days_count_to_the_next_midnight_utc():
    written = dt.datetime(2024, 5, 17, 8, 30, tzinfo=UTC)
    obj = Version(id=1, bucket="b", key="logs/a", version_id="null", is_latest=True, size=10, etag="e",
                  modified=int(written.timestamp() * 1e6), owner="1")
    r = lifecycle_rules.to_shape(rule(prefix="logs/", Expiration={"Days": 1}))
    assert lifecycle_rules.current_expiry(r, obj) == dt.datetime(2024, 5, 19, tzinfo=UTC)
    obj.key = "other/a"
    assert lifecycle_rules.current_expiry(r, obj) is None
    tagged = lifecycle_rules.to_shape({"ID": "t", "Status": "Enabled", "Expiration": {"Days": 1},
                                       "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "tmp", "Value": "1"}],
                                                          "ObjectSizeGreaterThan": 5}}})
    obj.key, obj.tags = "x", [{"Key": "tmp", "Value": "1"}]
    assert lifecycle_rules.current_expiry(tagged, obj) is not None
    obj.size = 3
    assert lifecycle_rules.current_expiry(tagged, obj) is None


def test_the_controller_expires_objects_soon_after_a_rule_falls_due(s3, bucket):
    for key in ("tmp/a", "tmp/b", "keep/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="tmp/a")
    assert "Expiration" not in head
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        rule(ID="purge-tmp", prefix="tmp/", Expiration={"Date": MIDNIGHT_PAST})]})
    deadline = time.time() + 20
    while time.time() < deadline:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if keys == ["keep/c"]:
            break
        time.sleep(0.2)
    assert keys == ["keep/c"]


def test_expiry_header_on_objects_a_rule_covers(s3, bucket):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        rule(ID="month", prefix="m/", Expiration={"Days": 30})]})
    out = s3.put_object(Bucket=bucket, Key="m/a", Body=b"x")
    assert out["Expiration"].startswith('expiry-date="') and 'rule-id="month"' in out["Expiration"]
    assert "Expiration" in s3.head_object(Bucket=bucket, Key="m/a")


def test_noncurrent_versions_markers_and_uploads(server, s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2", b"3", b"4"):
        s3.put_object(Bucket=bucket, Key="doc", Body=body)
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    gone_version = s3.list_object_versions(Bucket=bucket, Prefix="gone")["Versions"][0]["VersionId"]
    s3.delete_object(Bucket=bucket, Key="gone")
    s3.delete_object(Bucket=bucket, Key="gone", VersionId=gone_version)  # only the marker is left
    s3.create_multipart_upload(Bucket=bucket, Key="stale")
    rules = [rule(ID="nc", NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}),
             rule(ID="dm", Expiration={"ExpiredObjectDeleteMarker": True}),
             rule(ID="mpu", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1})]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    time.sleep(0.5)  # the controller's own pass: no version is due yet
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="doc")["Versions"]) == 4
    tally = lifecycle.sweep(server.store, server.config, now=dt.datetime.now(UTC) + dt.timedelta(days=3))
    assert (tally.noncurrent, tally.aborted) == (2, 1)
    versions = s3.list_object_versions(Bucket=bucket)
    assert [v["Key"] for v in versions["Versions"]] == ["doc", "doc"]  # current + one newer noncurrent kept
    assert "DeleteMarkers" not in versions  # a lone marker goes at once (the controller's own pass, or this one)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads") is None
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"4"
