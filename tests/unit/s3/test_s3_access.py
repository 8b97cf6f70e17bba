"""Who may do what: canned and explicit ACLs, bucket policies, IAM users, other accounts, anonymous callers, presigned URLs."""

import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from silvereye.services.s3.owners import canonical_id


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def denied(call, *args, **kw) -> None:
    with pytest.raises(ClientError) as e:
        call(*args, **kw)
    assert code(e) in ("AccessDenied", "403"), e.value.response["Error"]


def policy(bucket: str, *statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def http(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_a_private_bucket_refuses_anonymous_reads_and_writes(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"private")
    anonymous = server.client("s3", None)
    denied(anonymous.get_object, Bucket=bucket, Key="k")
    denied(anonymous.put_object, Bucket=bucket, Key="new", Body=b"x")
    denied(anonymous.list_objects_v2, Bucket=bucket)
    status, body = http(f"{server.url}/{bucket}/k")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    denied(anonymous.list_buckets)


def test_canned_acls_open_buckets_and_objects(server, s3, bucket):
    anonymous = server.client("s3", None)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert [o["Key"] for o in anonymous.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    denied(anonymous.get_object, Bucket=bucket, Key="k")  # the bucket's READ lists; reading needs the object's
    s3.put_object(Bucket=bucket, Key="pub", Body=b"public", ACL="public-read")
    assert http(f"{server.url}/{bucket}/pub") == (200, b"public")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    anonymous.put_object(Bucket=bucket, Key="dropbox", Body=b"anon")
    assert s3.get_object(Bucket=bucket, Key="dropbox")["Body"].read() == b"anon"
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert {(g["Grantee"].get("URI", "").rsplit("/", 1)[-1], g["Permission"]) for g in acl["Grants"]} >= {
        ("AllUsers", "READ"), ("AllUsers", "WRITE")}
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    denied(anonymous.list_objects_v2, Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_acl(Bucket=bucket, ACL="everyone-please")
    assert code(e) == "InvalidArgument"


def test_authenticated_read_lets_any_account_but_not_anonymous(server, s3, bucket, other):
    s3.put_object(Bucket=bucket, Key="k", Body=b"members", ACL="authenticated-read")
    assert server.client("s3", other).get_object(Bucket=bucket, Key="k")["Body"].read() == b"members"
    denied(server.client("s3", None).get_object, Bucket=bucket, Key="k")


def test_grants_to_another_account_by_canonical_id(server, s3, bucket, other):
    theirs = server.client("s3", other)
    s3.put_object(Bucket=bucket, Key="shared", Body=b"for other", GrantRead=f'id="{canonical_id(other.account_id)}"')
    assert theirs.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"for other"
    grants = s3.get_object_acl(Bucket=bucket, Key="shared")["Grants"]
    assert {"Type": "CanonicalUser", "ID": canonical_id(other.account_id), "DisplayName": "other"} in [
        g["Grantee"] for g in grants]
    # an IAM user of the other account also needs its own account's permission
    nobody = server.user(other, "nobody-" + bucket[-8:])
    denied(server.client("s3", nobody).get_object, Bucket=bucket, Key="shared")
    reader = server.user(other, "reader-" + bucket[-8:], {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    assert server.client("s3", reader).get_object(Bucket=bucket, Key="shared")["Body"].read() == b"for other"
    with pytest.raises(ClientError) as e:
        s3.put_object_acl(Bucket=bucket, Key="shared", GrantRead='id="' + "0" * 64 + '"')
    assert code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object_acl(Bucket=bucket, Key="shared", ACL="private", GrantRead='uri="x"')
    assert code(e) == "InvalidRequest"


def test_put_acl_documents(s3, bucket, other):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    current = s3.get_object_acl(Bucket=bucket, Key="k")
    current["Grants"].append({"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                              "Permission": "READ"})
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={"Owner": current["Owner"], "Grants": current["Grants"]})
    assert len(s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]) == 2


def test_bucket_policy_grants_anonymous_reads_and_denies_win(server, s3, bucket):
    anonymous = server.client("s3", None)
    s3.put_object(Bucket=bucket, Key="public/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="private/b", Body=b"b")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/public/*"}))
    assert anonymous.get_object(Bucket=bucket, Key="public/a")["Body"].read() == b"a"
    denied(anonymous.get_object, Bucket=bucket, Key="private/b")
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Principal"] == "*"
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    denied(s3.delete_object, Bucket=bucket, Key="public/a")  # even the owner's root
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="public/a")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(e) == "NoSuchBucketPolicy"


def test_bucket_policies_are_validated(s3, bucket):
    for text, why in [("not json", "first byte"),
                      (policy(bucket, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}), ""),
                      (policy(bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                       "Resource": "arn:aws:s3:::another-bucket/*"}), "invalid resource"),
                      (policy(bucket, {"Effect": "Allow", "Principal": "*", "Action": "ec2:RunInstances",
                                       "Resource": f"arn:aws:s3:::{bucket}/*"}), "invalid action")]:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket=bucket, Policy=text)
        assert code(e) == "MalformedPolicy", text
        assert why in e.value.response["Error"]["Message"]


def test_cross_account_access_through_a_bucket_policy(server, s3, bucket, other):
    s3.put_object(Bucket=bucket, Key="k", Body=b"cross")
    theirs = server.client("s3", other)
    denied(theirs.get_object, Bucket=bucket, Key="k")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(bucket, {
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other.account_id}:root"},
        "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}))
    assert theirs.get_object(Bucket=bucket, Key="k")["Body"].read() == b"cross"
    theirs.put_object(Bucket=bucket, Key="from-other", Body=b"written by other")
    assert s3.get_object(Bucket=bucket, Key="from-other")["Body"].read() == b"written by other"  # owner keeps control
    with pytest.raises(ClientError) as e:
        theirs.get_bucket_policy(Bucket=bucket)
    assert code(e) in ("AccessDenied", "MethodNotAllowed")


def test_iam_users_of_the_owner_account_need_a_policy(server, acme, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    plain = server.user(acme, "plain-" + bucket[-8:])
    denied(server.client("s3", plain).get_object, Bucket=bucket, Key="k")
    reader = server.user(acme, "ro-" + bucket[-8:], {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                                                     "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]})
    client = server.client("s3", reader)
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    denied(client.put_object, Bucket=bucket, Key="k", Body=b"y")
    with pytest.raises(ClientError) as e:  # may list: learns the key is absent
        client.get_object(Bucket=bucket, Key="absent")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:  # may not list: learns nothing
        server.client("s3", plain).get_object(Bucket=bucket, Key="absent")
    assert code(e) == "AccessDenied"
    conditioned = server.user(acme, "pre-" + bucket[-8:], {
        "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
        "Condition": {"StringLike": {"s3:prefix": "home/*"}}})
    listing = server.client("s3", conditioned)
    listing.list_objects_v2(Bucket=bucket, Prefix="home/me")
    denied(listing.list_objects_v2, Bucket=bucket)


def test_presigned_urls_work_over_plain_http_until_they_expire(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=2)
    assert http(url) == (200, b"presigned")
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "uploaded.txt"}, ExpiresIn=60)
    status, _ = http(put_url, "PUT", b"sent by a browser")
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="uploaded.txt")["Body"].read() == b"sent by a browser"
    tampered = url.replace("shared.txt", "uploaded.txt")
    status, body = http(tampered)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    time.sleep(3)
    status, body = http(url)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"expired" in body


def test_a_wrong_secret_is_refused(server, acme, bucket):
    from tests.unit.s3.harness import Keys

    forged = server.client("s3", Keys(acme.access_key, "x" * 40, acme.account_id))
    with pytest.raises(ClientError) as e:
        forged.list_objects_v2(Bucket=bucket)
    assert code(e) == "SignatureDoesNotMatch"
    unknown = server.client("s3", Keys("AKIAUNKNOWNKEY000000", "x" * 40, ""))
    with pytest.raises(ClientError) as e:
        unknown.list_objects_v2(Bucket=bucket)
    assert code(e) == "InvalidAccessKeyId"


def test_sigv2_clients_are_served(server, acme, bucket):
    import boto3
    from botocore.config import Config

    v2 = boto3.client("s3", endpoint_url=server.url, region_name="silvereye-1", aws_access_key_id=acme.access_key,
                      aws_secret_access_key=acme.secret_key, config=Config(signature_version="s3"))
    v2.put_object(Bucket=bucket, Key="old school", Body=b"hmac-sha1", Metadata={"tool": "s3cmd"})
    assert v2.get_object(Bucket=bucket, Key="old school")["Body"].read() == b"hmac-sha1"
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "old school"}, ExpiresIn=60)
    assert "Signature=" in url and http(url) == (200, b"hmac-sha1")
