"""botocore's own protocol test vectors, played from the server's side.

Input: botocore serializes each case's params exactly as an SDK would; our
parser must give back the same params. The same again with the request in the
vector's own (Smithy) form, which other SDKs send. Output: our serializer writes each
case's result (or error); botocore's parser must read back exactly the
expected result. Cases that cannot apply to a server are in IGNORED with
the reason; everything else must pass.
"""

from __future__ import annotations

import base64

import pytest
from botocore.model import NoShapeFoundError
from botocore.utils import parse_timestamp
from dateutil.tz import tzutc

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import Headers, HttpRequest
from silvereye.services.gateway.protocols import parser_for, serializer_for

from .vectorlib import bytes_to_str, canonical, special_floats_to_numbers
from .wire import botocore_parse, client_request

_EMPTY = "the wire cannot carry an empty {what} {where}: botocore sends nothing, so any server sees the member absent"
_FLATTENED = (
    "two flattened lists name their items 'item': botocore's parser reads flattened items by that name and "
    "merges them (botocore skips this case too)"
)
_EVENTS = "event streams: no silvereye service streams events (the serializers refuse them loudly)"

# case id -> why it cannot apply to a server. Keep these short.
# Input: information the client never puts on the wire.
IGNORED_INPUT: dict[str, str] = {
    "Ec2EmptyQueryLists": _EMPTY.format(what="list", where="in EC2's query form"),
    "QueryEmptyQueryMaps": _EMPTY.format(what="map", where="in Query form"),
    "HttpPrefixHeadersAreNotPresent": _EMPTY.format(what="map", where="as prefixed headers"),
    "NullAndEmptyHeaders": _EMPTY.format(what="list", where="in a header"),
    "legacy-rest-xml:26:1": _EMPTY.format(what="list", where="in a header"),
    "RestXmlQueryPrecedence": (
        "client-side precedence: the map's value for a named query key is dropped before sending, "
        "so no server can return it (botocore skips this case too)"
    ),
    "legacy-rest-xml:23:0": "idempotency-token auto-fill is a client concern, and botocore cannot serialize this fragment",
}
# Output: cases botocore's own parser cannot read back, or that only clients meet.
IGNORED_OUTPUT: dict[str, str] = {
    "XmlLists": _FLATTENED,
    "QueryXmlLists": _FLATTENED,
    "Ec2XmlLists": _FLATTENED,
    "InputAndOutputWithTimestampHeaders": (
        "a list of HTTP dates in one header: botocore splits it on the dates' own commas (botocore skips this case too)"
    ),
    "HttpPayloadTraitsWithNoBlobBody": (
        "an absent blob payload and an empty one are the same empty body; botocore reads it as '' (botocore skips this too)"
    ),
    "RestXmlHttpPayloadWithUnsetUnion": (
        "an unset union payload is an empty body, which botocore's parser rejects (botocore skips this case too)"
    ),
    "legacy-rest-xml:16:2": "SDK_UNKNOWN_MEMBER is what a client makes of a union member it does not know",
    "legacy-json:3:1": "the fragment declares a map shape with type 'string'",
    "legacy-json:6:0": _EVENTS,
    "legacy-rest-xml:14:0": _EVENTS,
    "legacy-rest-xml:14:1": _EVENTS,
    "legacy-rest-xml:14:2": _EVENTS,
}


_QUERY_STATUS = (
    "the model's httpStatusCode (402) comes from the Query-era awsQueryError trait; botocore models do not "
    "carry a separate JSON/CBOR status, so we answer what the model says (clients read the code, not the status)"
)
# case id -> why our status differs from the vector's; everything else in the case is still checked.
STATUS_DEVIATIONS = {
    "QueryCompatibleAwsJson10CustomCodeError": _QUERY_STATUS,
    "QueryCompatibleRpcV2CborCustomCodeError": _QUERY_STATUS,
}


def _skip_if_ignored(case):
    reason = (IGNORED_INPUT if case.kind == "input" else IGNORED_OUTPUT).get(case.id)
    if reason:
        pytest.skip(f"ignored: {reason}")


def test_input_vector(input_case):
    _skip_if_ignored(input_case)
    model = input_case.model()
    operation = model.operation_model(input_case.operation_name)
    params = special_floats_to_numbers(input_case.case["params"])
    request = client_request(input_case.protocol, operation, params)

    parsed_operation, parsed = parser_for(model, input_case.protocol).parse(request)

    assert parsed_operation.name == operation.name
    shape = operation.input_shape
    assert canonical(shape, parsed) == canonical(shape, params)


def spec_request(case, botocore_request):
    """The request exactly as the vector writes it (Smithy's form, which other SDKs send).

    Parts the vector leaves out (it lists only what it checks) are taken from botocore's request.
    """
    serialized = case.case["serialized"]
    path, _, query = serialized.get("uri", botocore_request.raw_path).partition("?")
    if "body" in serialized:
        body = serialized["body"]
        body = base64.b64decode(body) if case.protocol == "smithy-rpc-v2-cbor" else body.encode("utf-8")
    else:
        body = botocore_request.body
    headers = Headers(list(serialized.get("headers", {}).items()))
    for name, value in botocore_request.headers:
        if name.lower() not in ("content-length", "host") and name not in headers:
            headers.add(name, value)
    return HttpRequest(serialized.get("method", botocore_request.method), path or "/", query, headers, body)


# Why the spec's own form of a case cannot round-trip through any server.
SPEC_FORM_LIMITS = {
    "hostLabel": "the member travels only in the host name (endpoint trait), which the gateway's router owns",
    "idempotencyToken": "the vector's client filled in an idempotency token the params do not show",
}


def test_input_vector_as_the_spec_writes_it(input_case):
    """Other SDKs (JS v3, Go, Java v2) send the spec's form, which differs from botocore's in places."""
    _skip_if_ignored(input_case)
    model = input_case.model()
    operation = model.operation_model(input_case.operation_name)
    shape = operation.input_shape
    for trait, reason in SPEC_FORM_LIMITS.items():
        if shape is not None and any(m.serialization.get(trait) or m.metadata.get(trait) for m in shape.members.values()):
            pytest.skip(f"ignored: {reason}")
    params = special_floats_to_numbers(input_case.case["params"])
    request = spec_request(input_case, client_request(input_case.protocol, operation, params))

    parsed_operation, parsed = parser_for(model, input_case.protocol).parse(request)

    assert parsed_operation.name == operation.name
    assert canonical(shape, parsed) == canonical(shape, params)


def _epoch(value):
    return parse_timestamp(value).astimezone(tzutc()).timestamp()


def test_output_vector(output_case):
    _skip_if_ignored(output_case)
    case = output_case.case
    model = output_case.model()
    operation = model.operation_model(output_case.operation_name)
    protocol = output_case.protocol
    serializer = serializer_for(model, protocol)
    shape = operation.output_shape
    if "error" in case:
        fields = {k: v for k, v in case["error"].items() if k.lower() != "message"}
        message = case.get("errorMessage") or case["error"].get("Message") or case["error"].get("message") or ""
        response = serializer.serialize_error(ServiceError(case["errorCode"], message, **fields), operation, "req-1")
        if output_case.id not in STATUS_DEVIATIONS:
            assert response.status == case["response"]["status_code"]
        parsed = botocore_parse(protocol, response, shape, timestamp_parser=_epoch, operation_name=operation.name)
        try:
            error_shape = model.shape_for_error_code(parsed.get("Error", {}).get("Code"))
        except NoShapeFoundError:
            error_shape = None
        if error_shape is not None:
            parsed.update(botocore_parse(protocol, response, error_shape, timestamp_parser=_epoch))
        expected = {"Error": {"Code": case.get("errorCode", ""), "Message": case.get("errorMessage", "")}}
        expected.update(case["error"])
        parsed["Error"] = {k: v for k, v in parsed["Error"].items() if k in ("Code", "Message")}
        if "errorMessage" not in case:
            # No message stated: an empty <Message/> (None), a missing key and "" all mean none.
            parsed["Error"]["Message"] = parsed["Error"].get("Message") or ""
    else:
        if protocol == "query" and shape is not None and shape.members:
            shape.serialization["resultWrapper"] = f"{operation.name}Result"
        response = serializer.serialize(operation, case["result"], "req-1")
        parsed = botocore_parse(protocol, response, shape, timestamp_parser=_epoch, operation_name=operation.name)
        expected = case["result"]
    parsed.pop("ResponseMetadata", None)
    assert bytes_to_str(parsed) == bytes_to_str(expected)
