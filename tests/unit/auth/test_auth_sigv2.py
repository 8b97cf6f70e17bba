"""Signature Version 2: the Query APIs' form (euca2ools era) and S3's (s3cmd, boto 2)."""

from __future__ import annotations

import datetime as dt

from auth_capture import UTC, call, client, creds, fetch, refused, send_signed
from botocore.auth import HmacV1Auth
from conftest import ALICE, SESSION, STALE

from silvereye.services.gateway.auth import authenticate, peek_scope



def v2_call(server, name, operation, key=ALICE, token=None, path="", **params):
    api = client(name, server.url + path, key[0], key[1], token, signature_version="v2")
    return call(server, api, operation, **params).request()


def test_query_sigv2_from_a_real_client(server, resolver):
    for name, operation, service in (("ec2", "describe_instances", "ec2"), ("iam", "list_users", "iam")):
        request = v2_call(server, name, operation)
        assert peek_scope(request) is None
        result = authenticate(request, service=service, resolver=resolver)
        assert (result.auth_type, result.principal.name, result.region) == ("sigv2", "alice", "")
    # Eucalyptus clients address services by path.
    request = v2_call(server, "ec2", "describe_images", path="/services/compute")
    assert request.raw_path == "/services/compute"
    assert authenticate(request, service="ec2", resolver=resolver).principal.name == "alice"


def test_query_sigv2_refusals(server, resolver):
    wrong = v2_call(server, "ec2", "describe_instances", key=(ALICE[0], "wrong-secret-0123456789abcdefghijklmnop"))
    error = refused(wrong, "ec2", resolver)
    assert (error.code, error.status) == ("AuthFailure", 401)
    wrong = v2_call(server, "iam", "list_users", key=(ALICE[0], "wrong-secret-0123456789abcdefghijklmnop"))
    assert refused(wrong, "iam", resolver).code == "SignatureDoesNotMatch"

    request = v2_call(server, "ec2", "describe_instances")
    request.body = request.body.replace(b"DescribeInstances", b"TerminateInstances")
    assert refused(request, "ec2", resolver).code == "AuthFailure"

    request = v2_call(server, "ec2", "describe_instances")
    error = refused(request, "ec2", resolver, now=dt.datetime.now(UTC) + dt.timedelta(minutes=16))
    assert (error.code, error.message) == ("RequestExpired", "Request has expired.")

    assert authenticate(v2_call(server, "sts", "get_caller_identity", token=SESSION[2],
                                key=SESSION[:2]), service="sts", resolver=resolver).principal.name == "carol"
    expired = v2_call(server, "sts", "get_caller_identity", key=STALE[:2], token=STALE[2])
    assert refused(expired, "sts", resolver).code == "ExpiredToken"


def test_s3_sigv2_headers_from_a_real_client(server, resolver):
    s3 = client("s3", server.url, *ALICE, signature_version="s3")
    for operation, params in (
        ("list_buckets", {}),
        ("put_object", {"Bucket": "b", "Key": "dir/a b+c.txt", "Body": b"x", "ContentType": "text/plain",
                        "Metadata": {"colour": "blue"}}),
        ("get_object_acl", {"Bucket": "b", "Key": "k"}),
        ("list_multipart_uploads", {"Bucket": "b"}),
        ("get_object", {"Bucket": "b", "Key": "k", "VersionId": "v1", "ResponseContentType": "text/html"}),
        ("delete_objects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "a"}]}}),
    ):
        request = call(server, s3, operation, **params).request()
        assert request.headers["authorization"].startswith("AWS ")
        result = authenticate(request, service="s3", resolver=resolver)
        assert (result.auth_type, result.principal.name) == ("sigv2-s3", "alice"), operation
        assert result.payload is not None and result.payload.content_sha256 == "UNSIGNED-PAYLOAD"


def test_s3_sigv2_refusals(server, resolver):
    wrong = client("s3", server.url, ALICE[0], "wrong-secret-0123456789abcdefghijklmnop", signature_version="s3")
    error = refused(call(server, wrong, "get_object", Bucket="b", Key="k").request(), "s3", resolver)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.fields["StringToSign"].startswith("GET\n\n\n") and error.fields["StringToSign"].endswith("\n/b/k")

    s3 = client("s3", server.url, *ALICE, signature_version="s3")
    request = call(server, s3, "get_object", Bucket="b", Key="k").request()
    request.raw_path = "/b/other"
    assert refused(request, "s3", resolver).code == "SignatureDoesNotMatch"

    request = call(server, s3, "get_object", Bucket="b", Key="k").request()
    error = refused(request, "s3", resolver, now=dt.datetime.now(UTC) - dt.timedelta(minutes=16))
    assert error.code == "RequestTimeTooSkewed"

    request.headers.set("Authorization", "AWS " + ALICE[0])
    error = refused(request, "s3", resolver)
    assert (error.code, error.fields["ArgumentName"]) == ("InvalidArgument", "Authorization")


def test_s3_sigv2_virtual_host_and_eucalyptus_paths(server, resolver):
    signer = HmacV1Auth(creds(*ALICE))
    # A virtual-host client signs the bucket into the resource (botocore's auth_path).
    wire = send_signed(
        server, signer, "GET", "/photo.jpg", headers={"Host": "photos.s3.cloud.example"}, auth_path="/photos/photo.jpg"
    )
    assert authenticate(wire.request(), service="s3", resolver=resolver).auth_type == "sigv2-s3"
    # The router may name the bucket itself; a wrong one does not verify.
    error = refused(wire.request(), "s3", resolver, virtual_host_bucket="videos")
    assert error.code == "SignatureDoesNotMatch"

    s3 = client("s3", server.url + "/services/objectstorage", *ALICE, signature_version="s3")
    request = call(server, s3, "get_object", Bucket="b", Key="k").request()
    assert request.raw_path.startswith("/services/objectstorage/")
    assert authenticate(request, service="s3", resolver=resolver).principal.name == "alice"


def test_s3_sigv2_presigned_urls(server, resolver):
    s3 = client("s3", server.url, *ALICE, signature_version="s3")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url and "Expires=" in url
    request = fetch(server, url).request()
    assert authenticate(request, service="s3", resolver=resolver).auth_type == "sigv2-s3"
    error = refused(request, "s3", resolver, now=dt.datetime.now(UTC) + dt.timedelta(minutes=2))
    assert (error.code, error.message) == ("AccessDenied", "Request has expired")

    temporary = client("s3", server.url, *SESSION, signature_version="s3")
    url = temporary.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    assert authenticate(fetch(server, url).request(), service="s3", resolver=resolver).principal.name == "carol"

    both = fetch(server, url, headers={"Authorization": "AWS a:b"}).request()
    error = refused(both, "s3", resolver)
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.message.startswith("Only one auth mechanism allowed")
