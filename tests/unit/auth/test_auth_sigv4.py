"""SigV4 in the Authorization header, as real botocore clients sign it, and AWS's answers when it is wrong."""

from __future__ import annotations

import datetime as dt

import pytest
from auth_capture import UTC, call, client, creds, refused, send_signed
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from conftest import ALICE, RETIRED, SESSION, STALE

from silvereye.services.gateway.auth import authenticate, peek_scope
from silvereye.services.gateway.identity import ANONYMOUS

# botocore client name -> (service name the router passes, an operation that takes no arguments)
CALLS = {
    "sts": ("sts", "get_caller_identity"),
    "iam": ("iam", "list_users"),
    "ec2": ("ec2", "describe_instances"),
    "cloudwatch": ("monitoring", "list_metrics"),
    "autoscaling": ("autoscaling", "describe_auto_scaling_groups"),
    "elb": ("elb", "describe_load_balancers"),
    "cloudformation": ("cloudformation", "list_stacks"),
    "s3": ("s3", "list_buckets"),
    "dynamodb": ("dynamodb", "list_tables"),
}


def signed_call(server, name, key=ALICE, token=None, region="us-east-1", **config):
    service, operation = CALLS[name]
    wire = call(server, client(name, server.url, key[0], key[1], token, region=region, **config), operation)
    return service, wire.request()



@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_service_family_accepts_its_client_signature(server, resolver, name):
    service, request = signed_call(server, name)
    result = authenticate(request, service=service, resolver=resolver)
    assert result.principal.name == "alice"
    assert result.auth_type == "sigv4"
    assert result.access_key_id == ALICE[0]
    assert result.region == "us-east-1"
    assert resolver.uses == [(ALICE[0], result.signed_service, "us-east-1")]
    assert (result.payload is not None) == (service == "s3")


def test_the_router_can_read_the_scope_before_verifying(server, resolver):
    _, request = signed_call(server, "cloudwatch", region="eu-west-3")
    scope = peek_scope(request)
    assert (scope.access_key_id, scope.region, scope.service) == (ALICE[0], "eu-west-3", "monitoring")
    _, anonymous = signed_call(server, "s3", signature_version=UNSIGNED)
    assert peek_scope(anonymous) is None


def test_the_region_is_the_one_the_client_signed(server, resolver):
    _, request = signed_call(server, "sts", region="ap-southeast-2")
    assert authenticate(request, service="sts", resolver=resolver).region == "ap-southeast-2"
    # Some IAM clients sign with an empty region: accepted as signed.
    wire = send_signed(
        server, SigV4Auth(creds(*ALICE), "iam", ""), "POST", "/",
        data={"Action": "ListUsers", "Version": "2010-05-08"},
    )
    result = authenticate(wire.request(), service="iam", resolver=resolver)
    assert (result.region, result.signed_service, result.principal.name) == ("", "iam", "alice")


def test_a_wrong_secret_is_refused_in_each_dialect(server, resolver):
    wrong = (ALICE[0], "not-alices-secret-0123456789abcdefghij")
    _, request = signed_call(server, "sts", key=wrong)
    error = refused(request, "sts", resolver)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.message.startswith("The request signature we calculated does not match")
    _, request = signed_call(server, "ec2", key=wrong)
    error = refused(request, "ec2", resolver)
    assert (error.code, error.status, error.message) == (
        "AuthFailure", 401, "AWS was not able to validate the provided access credentials"
    )
    _, request = signed_call(server, "dynamodb", key=wrong)
    assert refused(request, "dynamodb", resolver).code == "InvalidSignatureException"
    _, request = signed_call(server, "s3", key=wrong)
    error = refused(request, "s3", resolver)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.fields["AWSAccessKeyId"] == ALICE[0]
    assert error.fields["CanonicalRequest"].startswith("GET\n/\n")
    assert error.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert error.fields["StringToSignBytes"].startswith("41 57 53 34")
    assert resolver.uses == []


def test_unknown_and_inactive_keys_are_refused(server, resolver):
    unknown = ("AKIANOBODY000000000X", "whatever-secret-0123456789abcdefghijk")
    expectations = {
        "sts": ("InvalidClientTokenId", 403, "The security token included in the request is invalid."),
        "iam": ("InvalidClientTokenId", 403, "The security token included in the request is invalid."),
        "ec2": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
        "s3": ("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records."),
        "dynamodb": ("UnrecognizedClientException", 400, "The security token included in the request is invalid."),
    }
    for name, expected in expectations.items():
        for key in (unknown, RETIRED):
            service, request = signed_call(server, name, key=key)
            error = refused(request, service, resolver)
            assert (error.code, error.status, error.message) == expected, (name, key[0])
    assert refused(signed_call(server, "s3", key=unknown)[1], "s3", resolver).fields == {"AWSAccessKeyId": unknown[0]}


def test_clock_skew_window_is_fifteen_minutes(server, resolver):
    _, sts = signed_call(server, "sts")
    _, ec2 = signed_call(server, "ec2")
    _, s3 = signed_call(server, "s3")
    now = dt.datetime.now(UTC)
    for minutes in (14, -14):
        authenticate(sts, service="sts", resolver=resolver, now=now + dt.timedelta(minutes=minutes))
    late = refused(sts, "sts", resolver, now=now + dt.timedelta(minutes=16))
    assert (late.code, late.status) == ("SignatureDoesNotMatch", 403)
    assert late.message.startswith("Signature expired: ") and late.message.endswith(" - 15 min.)")
    assert " is now earlier than " in late.message
    early = refused(sts, "sts", resolver, now=now - dt.timedelta(minutes=16))
    assert early.message.startswith("Signature not yet current: ") and early.message.endswith(" + 15 min.)")
    for shift in (16, -16):
        error = refused(ec2, "ec2", resolver, now=now + dt.timedelta(minutes=shift))
        assert (error.code, error.status, error.message) == ("RequestExpired", 400, "Request has expired.")
        error = refused(s3, "s3", resolver, now=now + dt.timedelta(minutes=shift))
        assert (error.code, error.status) == ("RequestTimeTooSkewed", 403)
        assert error.fields["MaxAllowedSkewMilliseconds"] == "900000"
        assert error.fields["RequestTime"] == s3.headers["x-amz-date"]
    authenticate(sts, service="sts", resolver=resolver, now=now + dt.timedelta(minutes=16), skew_seconds=1200)


def test_tampered_header_query_or_body_is_refused(server, resolver):
    _, request = signed_call(server, "sts")
    request.body = request.body.replace(b"GetCallerIdentity", b"GetSessionToken")
    assert refused(request, "sts", resolver).code == "SignatureDoesNotMatch"

    _, request = signed_call(server, "dynamodb")
    request.headers.set("X-Amz-Target", "DynamoDB_20120810.DeleteTable")
    assert refused(request, "dynamodb", resolver).code == "InvalidSignatureException"

    s3 = client("s3", server.url, *ALICE)
    request = call(server, s3, "list_objects_v2", Bucket="photos", Prefix="2024/").request()
    authenticate(request, service="s3", resolver=resolver)
    request.query_string = request.query_string.replace("prefix=2024", "prefix=2025")
    assert refused(request, "s3", resolver).code == "SignatureDoesNotMatch"

    request = call(server, s3, "get_object", Bucket="photos", Key="cat.jpg").request()
    request.raw_path = request.raw_path.replace("cat", "dog")
    assert refused(request, "s3", resolver).code == "SignatureDoesNotMatch"


def test_keys_with_any_characters_verify_for_s3(server, resolver):
    s3 = client("s3", server.url, *ALICE)
    for key in ("a b/c+d!", "ünïcödé/ключ", "x/../y//z", "~tilde*(paren)'q'=&?", "%41%2F"):
        request = call(server, s3, "put_object", Bucket="b", Key=key, Body=b"data").request()
        assert authenticate(request, service="s3", resolver=resolver).principal.name == "alice", key


def test_session_tokens(server, resolver):
    key, secret, token = SESSION
    _, request = signed_call(server, "sts", key=(key, secret), token=token)
    assert authenticate(request, service="sts", resolver=resolver).principal.name == "carol"

    _, without = signed_call(server, "sts", key=(key, secret))
    assert refused(without, "sts", resolver).code == "InvalidClientTokenId"
    _, without = signed_call(server, "s3", key=(key, secret))
    assert refused(without, "s3", resolver).code == "InvalidAccessKeyId"

    _, wrong = signed_call(server, "iam", key=(key, secret), token=token + "x")
    assert refused(wrong, "iam", resolver).code == "InvalidClientTokenId"
    _, wrong = signed_call(server, "s3", key=(key, secret), token=token + "x")
    error = refused(wrong, "s3", resolver)
    assert (error.code, error.status) == ("InvalidToken", 400)
    _, stray = signed_call(server, "sts", key=ALICE, token=token)
    assert refused(stray, "sts", resolver).code == "InvalidClientTokenId"

    stale = (STALE[0], STALE[1])
    for name, expected in (
        ("sts", ("ExpiredToken", 403, "The security token included in the request is expired")),
        ("iam", ("ExpiredToken", 403, "The security token included in the request is expired")),
        ("s3", ("ExpiredToken", 400, "The provided token has expired.")),
        ("ec2", ("RequestExpired", 400, "Request has expired.")),
    ):
        service, request = signed_call(server, name, key=stale, token=STALE[2])
        error = refused(request, service, resolver)
        assert (error.code, error.status, error.message) == expected


def test_unsigned_requests(server, resolver):
    _, request = signed_call(server, "s3", signature_version=UNSIGNED)
    result = authenticate(request, service="s3", resolver=resolver)
    assert (result.principal, result.auth_type) == (ANONYMOUS, "anonymous")
    _, request = signed_call(server, "sts", signature_version=UNSIGNED)
    error = refused(request, "sts", resolver)
    assert (error.code, error.status, error.message) == (
        "MissingAuthenticationToken", 403, "Request is missing Authentication Token"
    )
    _, request = signed_call(server, "ec2", signature_version=UNSIGNED)
    error = refused(request, "ec2", resolver)
    assert (error.code, error.message) == ("MissingParameter", "The request must contain the parameter AWSAccessKeyId")


def test_incomplete_or_misscoped_signatures(server, resolver):
    _, request = signed_call(server, "sts")
    header = request.headers["authorization"]
    request.headers.set("Authorization", header.split(", Signature=")[0])
    error = refused(request, "sts", resolver)
    assert (error.code, error.status) == ("IncompleteSignature", 400)
    assert error.message.startswith("Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC")

    _, request = signed_call(server, "s3")
    request.headers.set("Authorization", request.headers["authorization"].split(", Signature=")[0])
    error = refused(request, "s3", resolver)
    assert (error.code, error.status) == ("AuthorizationHeaderMalformed", 400)

    _, request = signed_call(server, "iam")  # signed for iam, sent where ec2 is served
    error = refused(request, "ec2", resolver)
    assert error.code == "AuthFailure" and "Credential should be scoped to correct service: 'ec2'" in error.message
    error = refused(request, "sts", resolver)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)

    _, request = signed_call(server, "s3")
    request.headers.remove("x-amz-date")
    error = refused(request, "s3", resolver)
    assert (error.code, error.message) == ("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")

    _, request = signed_call(server, "s3")
    request.headers.remove("x-amz-content-sha256")
    error = refused(request, "s3", resolver)
    assert (error.code, error.message) == ("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")

    _, request = signed_call(server, "s3")
    request.headers.set("Authorization", "Bearer abc")
    error = refused(request, "s3", resolver)
    assert (error.code, error.message, error.fields["ArgumentName"]) == (
        "InvalidArgument", "Unsupported Authorization Type", "Authorization"
    )
