"""The client side of the wire, played by botocore itself.

:func:`client_request` is what an SDK sends: botocore's serializer for the
protocol, its request compression, its URL and body preparation.
:func:`botocore_response` hands our :class:`HttpResponse` to botocore's
response parser exactly as its HTTP layer would.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import botocore.parsers
import botocore.serialize
from botocore.awsrequest import HeadersDict, create_request_object, prepare_request_dict
from botocore.compress import maybe_compress_request
from botocore.config import Config

from silvereye.services.gateway.http import Headers, HttpRequest, HttpResponse

ENDPOINT = "https://example.com"


def client_request(protocol: str, operation_model, params: dict, *, endpoint: str = ENDPOINT) -> HttpRequest:
    serializer = botocore.serialize.create_serializer(protocol, include_validation=False)
    request_dict = serializer.serialize_to_request(params, operation_model)
    if operation_model.request_compression:
        config = Config(request_min_compression_size_bytes=1)
        maybe_compress_request(config, request_dict, operation_model)
    prepare_request_dict(request_dict, endpoint_url=endpoint)
    prepared = create_request_object(request_dict).prepare()
    return to_http_request(prepared)


def to_http_request(prepared) -> HttpRequest:
    split = urlsplit(prepared.url)
    body = prepared.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, (bytes, bytearray)):
        body = body.read()
    headers = Headers([(k, v if isinstance(v, str) else v.decode("latin-1")) for k, v in prepared.headers.items()])
    if "host" not in headers:
        headers.add("Host", split.netloc)  # the HTTP library adds it when sending
    return HttpRequest(
        method=prepared.method,
        raw_path=split.path or "/",
        query_string=split.query,
        headers=headers,
        body=bytes(body),
    )


def response_dict(response: HttpResponse, operation_name: str = "") -> dict:
    body = response.body
    assert isinstance(body, (bytes, bytearray)), f"not a byte body: {type(body)}"
    return {
        "status_code": response.status,
        "headers": HeadersDict(response.headers.items()),
        "body": bytes(body),
        "context": {"operation_name": operation_name},
    }


def botocore_parse(protocol: str, response: HttpResponse, shape, *, timestamp_parser=None, operation_name=""):
    parser = botocore.parsers.create_parser(protocol)
    if timestamp_parser is not None:
        parser = botocore.parsers.PROTOCOL_PARSERS[protocol](timestamp_parser=timestamp_parser)
    return parser.parse(response_dict(response, operation_name), shape)


