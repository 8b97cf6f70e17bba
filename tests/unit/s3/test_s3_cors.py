"""CORS: the configuration, browsers' unsigned preflights, and the headers real cross-origin requests get."""

import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

RULES = {"CORSRules": [
    {"ID": "app", "AllowedOrigins": ["https://app.example.com", "https://*.example.org"], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]}


def preflight(url: str, origin: str | None, method: str | None, headers: str | None = None):
    request = urllib.request.Request(url, method="OPTIONS")
    for name, value in (("Origin", origin), ("Access-Control-Request-Method", method),
                        ("Access-Control-Request-Headers", headers)):
        if value:
            request.add_header(name, value)
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_configuration_round_trip_and_validation(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["AllowedOrigins"] == RULES["CORSRules"][0]["AllowedOrigins"] and got[0]["MaxAgeSeconds"] == 600
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidRequest" and "PATCH" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["https://*.*.com"], "AllowedMethods": ["GET"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_preflights_are_answered_from_the_rules(server, s3, bucket):
    url = f"{server.url}/{bucket}/some/key"
    status, headers, body = preflight(url, "https://app.example.com", "PUT")
    assert status == 403 and b"CORS is not enabled" in body
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    status, headers, _ = preflight(url, "https://app.example.com", "PUT", "Content-Type, X-Amz-Meta-Owner")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert headers["Access-Control-Allow-Headers"] == "Content-Type, X-Amz-Meta-Owner"
    assert headers["Access-Control-Max-Age"] == "600" and headers["Access-Control-Allow-Credentials"] == "true"
    assert preflight(url, "https://shop.example.org", "GET")[0] == 200  # wildcard origin
    assert preflight(url, "https://evil.example.net", "GET")[0] == 403
    assert preflight(url, "https://app.example.com", "DELETE")[0] == 403
    assert preflight(url, "https://app.example.com", "PUT", "authorization")[0] == 403
    status, headers, _ = preflight(url, "https://anyone.test", "HEAD")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    assert preflight(url, None, "GET")[0] == 400
    assert preflight(f"{server.url}/no-such-bucket-anywhere/k", "https://a.b", "GET")[0] == 404


def test_cross_origin_requests_get_the_headers(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    request = urllib.request.Request(f"{server.url}/{bucket}/k", headers={"Origin": "https://app.example.com"})
    with urllib.request.urlopen(request) as r:
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    plain = urllib.request.Request(f"{server.url}/{bucket}/k", headers={"Origin": "https://evil.example.net"})
    with urllib.request.urlopen(plain) as r:
        assert "Access-Control-Allow-Origin" not in r.headers
