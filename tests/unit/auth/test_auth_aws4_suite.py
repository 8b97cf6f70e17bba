"""AWS's own SigV4 test suite (shipped in botocore's sdist): every signed request verifies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from auth_capture import UTC, RecordingResolver, principal

from silvereye.services.gateway.auth import authenticate
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import Headers, HttpRequest
from silvereye.services.gateway.identity import Credential

SUITE_KEY = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = dt.datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)


def parse_sreq(text: str) -> HttpRequest:
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, _, target = lines[0].rpartition(" HTTP/")[0].partition(" ")  # the suite's paths may hold spaces
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # an obs-fold continuation line
            name, value = headers[-1]
            headers[-1] = (name, value + "\n" + line)
        else:
            name, _, value = line.partition(":")
            headers.append((name, value.strip(" \t")))  # as an HTTP server strips OWS
    path, _, query = target.partition("?")
    return HttpRequest(method, path, query, Headers(headers), body=body.encode())


def suite_cases(root: Path) -> list[Path]:
    return sorted(root.rglob("*.authz"))


def signed_request(case: Path) -> HttpRequest:
    """The case's request (.req) with the Authorization the suite computed for it (.authz).

    (The .sreq files are not used: one of them carries a corrupted signature.)
    """
    request = parse_sreq(case.with_suffix(".req").read_text())
    for line in case.with_suffix(".creq").read_text().splitlines():
        if line.startswith("x-amz-security-token:") and "x-amz-security-token" not in request.headers:
            request.headers.add("X-Amz-Security-Token", line.partition(":")[2])  # the signer adds it, as botocore's
    request.headers.add("Authorization", case.read_text().strip())
    return request


def resolver_for(request: HttpRequest) -> RecordingResolver:
    token = request.headers.get("x-amz-security-token")
    return RecordingResolver({SUITE_KEY[0]: Credential(*SUITE_KEY, principal("suite"), session_token=token)})


def test_every_signed_request_in_the_suite_verifies(aws4_testsuite):
    cases = suite_cases(aws4_testsuite)
    assert len(cases) >= 30
    for case in cases:
        request = signed_request(case)
        result = authenticate(request, service="service", resolver=resolver_for(request), now=SUITE_TIME)
        assert result.principal.name == "suite", case.name
        assert (result.region, result.signed_service) == ("us-east-1", "service")


def test_a_changed_signature_or_header_in_the_suite_is_refused(aws4_testsuite):
    request = signed_request(aws4_testsuite / "get-vanilla" / "get-vanilla.authz")
    authorization = request.headers["authorization"]
    request.headers.set("Authorization", authorization[:-1] + ("0" if authorization[-1] != "0" else "1"))
    with pytest.raises(ServiceError) as refused:
        authenticate(request, service="service", resolver=resolver_for(request), now=SUITE_TIME)
    assert (refused.value.code, refused.value.status) == ("SignatureDoesNotMatch", 403)

    request = signed_request(aws4_testsuite / "get-header-value-trim" / "get-header-value-trim.authz")
    request.headers.set("My-Header1", "value2")
    with pytest.raises(ServiceError) as refused:
        authenticate(request, service="service", resolver=resolver_for(request), now=SUITE_TIME)
    assert refused.value.code == "SignatureDoesNotMatch"
