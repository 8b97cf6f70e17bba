"""Presigned URLs (SigV4 query strings): used as curl would, until they expire."""

from __future__ import annotations

import datetime as dt

from auth_capture import UTC, client, creds, fetch, presign, refused
from botocore.auth import SigV4QueryAuth
from conftest import ALICE, SESSION

from silvereye.services.gateway.auth import authenticate, peek_scope



def test_a_presigned_get_works_until_it_expires(server, resolver):
    s3 = client("s3", server.url, *ALICE, signature_version="s3v4")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo", "Key": "big file.bin"}, ExpiresIn=60)
    request = fetch(server, url).request()
    assert peek_scope(request).service == "s3"
    result = authenticate(request, service="s3", resolver=resolver)
    assert (result.auth_type, result.principal.name) == ("sigv4-query", "alice")
    assert result.payload.content_sha256 == "UNSIGNED-PAYLOAD"

    later = dt.datetime.now(UTC) + dt.timedelta(seconds=120)
    error = refused(request, "s3", resolver, now=later)
    assert (error.code, error.status, error.message) == ("AccessDenied", 403, "Request has expired")
    assert error.fields["X-Amz-Expires"] == "60"
    assert set(error.fields) == {"X-Amz-Expires", "Expires", "ServerTime"}


def test_a_presigned_put_cannot_be_changed(server, resolver):
    s3 = client("s3", server.url, *ALICE, signature_version="s3v4")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "demo", "Key": "upload.txt"}, ExpiresIn=300)
    request = fetch(server, url, "PUT", b"hello").request()
    authenticate(request, service="s3", resolver=resolver)

    other_key = fetch(server, url.replace("upload.txt", "other.txt"), "PUT", b"hello").request()
    assert refused(other_key, "s3", resolver).code == "SignatureDoesNotMatch"

    with_acl = fetch(server, url, "PUT", b"hello", headers={"x-amz-acl": "public-read"}).request()
    error = refused(with_acl, "s3", resolver)
    assert (error.code, error.fields) == ("AccessDenied", {"HeadersNotSigned": "x-amz-acl"})

    longer = fetch(server, url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"), "PUT", b"hi").request()
    assert refused(longer, "s3", resolver).code == "SignatureDoesNotMatch"


def test_presigned_urls_are_limited_to_a_week(server, resolver):
    s3 = client("s3", server.url, *ALICE, signature_version="s3v4")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo", "Key": "k"}, ExpiresIn=604801)
    error = refused(fetch(server, url).request(), "s3", resolver)
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 400)
    assert error.message == "X-Amz-Expires must be less than a week (in seconds) that is 604800"

    incomplete = fetch(server, url.split("&X-Amz-Signature=")[0]).request()
    assert refused(incomplete, "s3", resolver).code == "AuthorizationQueryParametersError"


def test_a_presigned_url_dated_in_the_future_is_not_valid_yet(server, resolver):
    s3 = client("s3", server.url, *ALICE, signature_version="s3v4")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo", "Key": "k"}, ExpiresIn=3600)
    earlier = dt.datetime.now(UTC) - dt.timedelta(minutes=20)
    error = refused(fetch(server, url).request(), "s3", resolver, now=earlier)
    assert (error.code, error.message) == ("AccessDenied", "Request is not valid yet")


def test_presigned_with_temporary_credentials(server, resolver):
    s3 = client("s3", server.url, *SESSION, signature_version="s3v4")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "demo", "Key": "k"})
    assert "X-Amz-Security-Token=" in url
    assert authenticate(fetch(server, url).request(), service="s3", resolver=resolver).principal.name == "carol"
    stripped = url.replace("X-Amz-Security-Token=", "X-Amz-Security-Tokem=")
    assert refused(fetch(server, stripped).request(), "s3", resolver).code == "InvalidAccessKeyId"


def test_a_presigned_sts_call_as_kubernetes_authenticators_make_it(server, resolver):
    signer = SigV4QueryAuth(creds(*ALICE), "sts", "us-east-1", expires=60)
    url = presign(server, signer, "GET", "/", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    request = fetch(server, url).request()
    result = authenticate(request, service="sts", resolver=resolver)
    assert (result.auth_type, result.principal.name) == ("sigv4-query", "alice")
    error = refused(request, "sts", resolver, now=dt.datetime.now(UTC) + dt.timedelta(minutes=5))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message.startswith("Signature expired: ")
    ec2_error = refused(request, "ec2", resolver)
    assert ec2_error.code == "AuthFailure"
