"""AWS wire protocols, driven entirely by botocore's service models.

One parser and one serializer per protocol, found through registries keyed
by protocol name; service quirks are subclasses registered for
``(protocol, service)``, never ``if service == ...`` inside a codec::

    RequestParser (base)                        ResponseSerializer (base)
     |   parse() = _parse() + validate.InputValidator   |
     |                                                  |
     +- QueryRequestParser        query                 +- QueryResponseSerializer
     |   +- EC2RequestParser      ec2                   |   +- EC2ResponseSerializer
     +- RestXmlRequestParser      rest-xml              +- RestXmlResponseSerializer
     |   +- S3RequestParser       (rest-xml, s3)        |   +- S3ResponseSerializer
     +- DocumentRequestParser                           +- DocumentResponseSerializer
         +- JsonRequestParser     json                      +- JsonResponseSerializer
         +- CborRequestParser     smithy-rpc-v2-cbor        +- CborResponseSerializer

    shared pieces: values (timestamps, floats, base64), xmlcodec (XmlWriter /
    XmlReader / safe parse_xml), routes (REST route table), validate
    (InputValidator + ErrorStyle: CoralStyle, EC2Style, S3Style)

Usage by the gateway::

    protocol = detect_protocol(model, request)
    operation, params = parser_for(model, protocol).parse(request)      # ServiceError on bad input
    response = serializer_for(model, protocol).serialize(operation, result, request_id)
    response = serializer_for(model, protocol).serialize_error(error, operation, request_id)

For S3, call ``parser.wants_stream(request, bucket=...)`` before reading the
body: when True the operation takes its payload as ``request.stream``.
"""

from __future__ import annotations

import functools

from silvereye.services.gateway.http import HttpRequest
from silvereye.services.gateway.protocols.awsjson import JsonRequestParser, JsonResponseSerializer
from silvereye.services.gateway.protocols.base import RequestParser, ResponseSerializer, UnhandledShapeType
from silvereye.services.gateway.protocols.cbor import CborRequestParser, CborResponseSerializer
from silvereye.services.gateway.protocols.ec2 import EC2RequestParser, EC2ResponseSerializer
from silvereye.services.gateway.protocols.query import QueryRequestParser, QueryResponseSerializer
from silvereye.services.gateway.protocols.restxml import RestXmlRequestParser, RestXmlResponseSerializer
from silvereye.services.gateway.protocols.s3 import S3RequestParser, S3ResponseSerializer

QUERY = "query"
EC2 = "ec2"
REST_XML = "rest-xml"
JSON = "json"
CBOR = "smithy-rpc-v2-cbor"

PARSERS: dict[str, type[RequestParser]] = {
    QUERY: QueryRequestParser,
    EC2: EC2RequestParser,
    REST_XML: RestXmlRequestParser,
    JSON: JsonRequestParser,
    CBOR: CborRequestParser,
}
SERIALIZERS: dict[str, type[ResponseSerializer]] = {
    QUERY: QueryResponseSerializer,
    EC2: EC2ResponseSerializer,
    REST_XML: RestXmlResponseSerializer,
    JSON: JsonResponseSerializer,
    CBOR: CborResponseSerializer,
}
# Service quirks, keyed by (protocol, botocore service name).
SERVICE_PARSERS: dict[tuple[str, str], type[RequestParser]] = {(REST_XML, "s3"): S3RequestParser}
SERVICE_SERIALIZERS: dict[tuple[str, str], type[ResponseSerializer]] = {(REST_XML, "s3"): S3ResponseSerializer}

__all__ = [
    "detect_protocol", "parser_for", "serializer_for", "RequestParser", "ResponseSerializer",
    "UnhandledShapeType", "PARSERS", "SERIALIZERS",
]


def model_protocols(service_model) -> list[str]:
    return list(service_model.metadata.get("protocols") or [service_model.metadata["protocol"]])


def detect_protocol(service_model, request: HttpRequest) -> str:
    """The protocol a request speaks, for services whose model lists several (CloudWatch).

    ``smithy-protocol: rpc-v2-cbor`` means CBOR; ``X-Amz-Target`` with an
    ``application/x-amz-json-1.x`` body means JSON; anything else is Query
    when the service has it, else the model's own protocol.
    """
    protocols = model_protocols(service_model)
    if len(protocols) == 1:
        return protocols[0]
    if CBOR in protocols and (request.headers.get("smithy-protocol") or "").strip().lower() == "rpc-v2-cbor":
        return CBOR
    if JSON in protocols and request.headers.get("x-amz-target") and request.content_type.startswith("application/x-amz-json-1."):
        return JSON
    if QUERY in protocols:
        return QUERY
    return service_model.metadata["protocol"]


def _check(service_model, protocol: str, registry: dict) -> None:
    if protocol not in registry:
        raise ValueError(f"no codec for protocol {protocol!r}")
    if protocol not in model_protocols(service_model):
        raise ValueError(f"{service_model.service_name} does not speak {protocol!r} (it speaks {model_protocols(service_model)})")


@functools.lru_cache(maxsize=256)
def parser_for(service_model, protocol: str) -> RequestParser:
    """The (cached) request parser of a service for one of its protocols."""
    _check(service_model, protocol, PARSERS)
    cls = SERVICE_PARSERS.get((protocol, service_model.service_name), PARSERS[protocol])
    return cls(service_model)


@functools.lru_cache(maxsize=256)
def serializer_for(service_model, protocol: str) -> ResponseSerializer:
    """The (cached) response serializer of a service for one of its protocols."""
    _check(service_model, protocol, SERIALIZERS)
    cls = SERVICE_SERIALIZERS.get((protocol, service_model.service_name), SERIALIZERS[protocol])
    return cls(service_model)
