"""Buckets: naming, regions, ownership, listing, deletion, and the three ways of addressing them."""

import socket

import pytest
from botocore.exceptions import ClientError

from tests.unit.s3.harness import DOMAIN, REGION


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def test_create_list_head_locate_and_delete_a_bucket(server, s3):
    assert s3.create_bucket(Bucket="photos")["Location"] == "/photos"
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "photos" in names
    head = s3.head_bucket(Bucket="photos")
    assert head["BucketRegion"] == REGION
    assert s3.get_bucket_location(Bucket="photos")["LocationConstraint"] == REGION
    s3.delete_bucket(Bucket="photos")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="photos")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize("name", ["ab", "Upper", "a" * 64, "-start", "end-", "two..dots", "192.168.0.1", "xn--abc",
                                  "under_score", "abc-s3alias"])
def test_bad_bucket_names_are_refused(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert code(e) == "InvalidBucketName"
    assert e.value.response["Error"]["BucketName"] == name


def test_a_location_constraint_must_name_this_region(s3):
    s3.create_bucket(Bucket="here", CreateBucketConfiguration={"LocationConstraint": REGION})
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="there", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(e) == "IllegalLocationConstraintException"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="nowhere", CreateBucketConfiguration={"LocationConstraint": "mars-1"})
    assert code(e) == "InvalidLocationConstraint"


def test_bucket_names_are_global_across_accounts(server, s3, other):
    s3.create_bucket(Bucket="shared-name")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="shared-name")
    assert code(e) == "BucketAlreadyOwnedByYou"
    theirs = server.client("s3", other)
    with pytest.raises(ClientError) as e:
        theirs.create_bucket(Bucket="shared-name")
    assert code(e) == "BucketAlreadyExists"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "shared-name" not in [b["Name"] for b in theirs.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        theirs.list_objects_v2(Bucket="shared-name")
    assert code(e) == "AccessDenied"


def test_the_system_prefix_is_reserved(s3):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="silvereye-system-images")
    assert code(e) == "BucketAlreadyExists"


def test_a_bucket_with_objects_cannot_be_deleted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code(e) == "BucketNotEmpty"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


def test_operations_on_a_missing_bucket_answer_no_such_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="never-made")
    assert code(e) == "NoSuchBucket"
    assert e.value.response["Error"]["BucketName"] == "never-made"


def test_list_buckets_pages_and_filters_by_prefix(s3):
    for n in ("pg-a", "pg-b", "pg-c"):
        s3.create_bucket(Bucket=n)
    first = s3.list_buckets(Prefix="pg-", MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == ["pg-a", "pg-b"]
    rest = s3.list_buckets(Prefix="pg-", MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["pg-c"]
    assert "ContinuationToken" not in rest
    assert first["Owner"]["ID"] and len(first["Owner"]["ID"]) == 64


def test_the_eucalyptus_path_prefix_reaches_s3(server, acme):
    import boto3

    euca = boto3.client("s3", endpoint_url=server.url + "/services/objectstorage", region_name=REGION,
                        aws_access_key_id=acme.access_key, aws_secret_access_key=acme.secret_key)
    euca.create_bucket(Bucket="walrus")
    euca.put_object(Bucket="walrus", Key="dir/file.txt", Body=b"from euca2ools days")
    assert euca.get_object(Bucket="walrus", Key="dir/file.txt")["Body"].read() == b"from euca2ools days"
    assert [o["Key"] for o in euca.list_objects(Bucket="walrus")["Contents"]] == ["dir/file.txt"]


def test_virtual_host_addressing(server, acme, monkeypatch):
    """bucket.s3.<dns_domain> names the bucket; the test resolves the cloud's domain to loopback."""
    real = socket.getaddrinfo

    def resolve(host, *args, **kw):
        if isinstance(host, str) and host.endswith("." + DOMAIN) or host == DOMAIN:
            host = "127.0.0.1"
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    import boto3
    from botocore.config import Config

    vhost = boto3.client("s3", endpoint_url=f"http://s3.{DOMAIN}:{server.port}", region_name=REGION,
                         aws_access_key_id=acme.access_key, aws_secret_access_key=acme.secret_key,
                         config=Config(s3={"addressing_style": "virtual"}))
    vhost.create_bucket(Bucket="vhosted")
    vhost.put_object(Bucket="vhosted", Key="a/b c.txt", Body=b"virtual")
    response = vhost.get_object(Bucket="vhosted", Key="a/b c.txt")
    assert response["Body"].read() == b"virtual"
    assert [o["Key"] for o in vhost.list_objects_v2(Bucket="vhosted")["Contents"]] == ["a/b c.txt"]
    sigv2 = boto3.client("s3", endpoint_url=f"http://s3.{DOMAIN}:{server.port}", region_name=REGION,
                         aws_access_key_id=acme.access_key, aws_secret_access_key=acme.secret_key,
                         config=Config(s3={"addressing_style": "virtual"}, signature_version="s3"))
    assert sigv2.get_object(Bucket="vhosted", Key="a/b c.txt")["Body"].read() == b"virtual"


def test_an_account_with_buckets_is_deleted_only_with_force(server):
    from silvereye.errors import SilvereyeError
    from silvereye.services.iam import accounts

    temp = server.account("short-lived")
    theirs = server.client("s3", temp)
    theirs.create_bucket(Bucket="short-lived-data")
    theirs.put_object(Bucket="short-lived-data", Key="k", Body=b"x")
    with server.store.write() as conn:
        assert "1 S3 bucket" in [item for r in accounts.RESOURCES for item in r.describe(conn, temp.account_id)]
    with pytest.raises(SilvereyeError) as e:
        with server.store.write() as conn:
            accounts.delete(conn, "short-lived")
    assert "1 S3 bucket" in str(e.value)
    with server.store.write() as conn:
        accounts.delete(conn, "short-lived", force=True)
    with server.store.read() as conn:
        from silvereye.services.s3 import catalog

        assert catalog.get_bucket(conn, "short-lived-data") is None
