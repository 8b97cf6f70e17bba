"""The REST-XML protocol: members bound to the URI, query string, headers, status and an XML body.

Each input member says where it travels (``location``: ``uri``,
``querystring``, ``header``, ``headers`` for a prefix map such as
``x-amz-meta-``, or the body). The body is either the input shape's
``payload`` member -- a blob (streamed for ``streaming`` blobs: the handler
gets the request's :class:`BodyStream` and the body is never read whole), a
string, or a structure written as XML -- or, without a payload, the
structure's body members as one XML document. Output mirrors it, and a
streaming output payload (bytes, :class:`FileBody` or an async iterator)
goes straight into :attr:`HttpResponse.body`.

Routing is :mod:`.routes`. ``parse(request, bucket=...)`` takes the bucket
a router resolved from a virtual-host name: the request's path is then the
key part only, and is routed as ``/<bucket><path>``.
"""

from __future__ import annotations

import json
from urllib.parse import quote
from xml.etree import ElementTree as ET

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.protocols import values
from silvereye.services.gateway.protocols.base import (
    RequestParser,
    ResponseSerializer,
    UnhandledShapeType,
    content_encodings,
)
from silvereye.services.gateway.protocols.routes import RouteTable
from silvereye.services.gateway.protocols.validate import CoralStyle, Step
from silvereye.services.gateway.protocols.xmlcodec import (
    OUTPUT_LOCATIONS,
    XmlReader,
    add_namespace,
    XmlWriter,
    body_members,
    parse_xml,
    to_bytes,
)

XML_CONTENT_TYPE = "application/xml"


def is_streaming(shape) -> bool:
    return shape.type_name == "blob" and bool(shape.serialization.get("streaming"))


def payload_member(shape):
    """(name, shape) of the structure's payload member, or (None, None)."""
    name = shape.serialization.get("payload") if shape is not None else None
    return (name, shape.members[name]) if name else (None, None)


class RestXmlRequestParser(RequestParser):
    PROTOCOL = "rest-xml"
    ROUTE_TABLE = RouteTable

    def __init__(self, service_model):
        super().__init__(service_model)
        self.routes = self.ROUTE_TABLE(service_model)
        self.reader = XmlReader(self.errors)

    @classmethod
    def error_style(cls, service_model):
        # Route53/CloudFront answer InvalidInput for values that break the model.
        return CoralStyle("InvalidInput")

    def route_path(self, request, bucket: str | None) -> str:
        if bucket is None:
            return request.raw_path or "/"
        key_part = request.raw_path if request.raw_path not in ("", "/") else ""
        return "/" + quote(bucket, safe="") + key_part

    def route(self, request, bucket: str | None = None):
        query = _multi(request.query)
        route, labels = self.routes.resolve(request.method, self.route_path(request, bucket), query, request.headers)
        return route, labels, query

    def wants_stream(self, request, *, bucket=None) -> bool:
        try:
            route, _, _ = self.route(request, bucket)
        except ServiceError:
            return False
        _, payload = payload_member(route.operation.input_shape)
        return payload is not None and is_streaming(payload)

    def _parse(self, request, bucket):
        route, labels, query = self.route(request, bucket)
        operation = route.operation
        shape = operation.input_shape
        if shape is None:
            return operation, {}
        params: dict = {}
        _, payload = payload_member(shape)
        # Only operations with the requestcompression trait are gzip'd by SDKs;
        # elsewhere (S3 PutObject) Content-Encoding describes the stored object.
        inflate = bool(operation.request_compression) and not (payload is not None and is_streaming(payload))
        bound_query = {
            m.serialization.get("name", n)
            for n, m in shape.members.items()
            if m.serialization.get("location") == "querystring" and m.type_name != "map"
        }
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            path = (Step(name, member),)
            if location == "uri":
                if wire in labels:
                    params[name] = self._from_text(member, labels[wire], path, "uri")
            elif location == "querystring":
                value = self._query_member(member, wire, query, bound_query | set(route.literal_query), path)
                if value is not None:
                    params[name] = value
            elif location == "header":
                text = request.headers.get(wire)
                if text is not None and inflate and wire.lower() == "content-encoding":
                    text = _without_gzip(text, content_encodings(request))
                if text is not None:
                    params[name] = self._header_member(member, text, path)
            elif location == "headers":
                prefix = wire.lower()
                found = {k[len(prefix):]: v for k, v in request.headers if k.lower().startswith(prefix)}
                if found:
                    params[name] = found
        self._parse_body(request, shape, params, inflate)
        return operation, params

    # -- locations -------------------------------------------------------------

    def _from_text(self, shape, text: str, path, location: str):
        kind = shape.type_name
        try:
            if kind in ("string", "character"):
                return text
            if kind in ("integer", "long"):
                return values.parse_integer(text)
            if kind in ("float", "double"):
                return values.parse_float(text)
            if kind == "boolean":
                return values.parse_boolean(text)
            if kind == "timestamp":
                default = values.RFC822 if location == "header" else values.ISO8601
                return values.parse_timestamp(text, values.timestamp_format(shape, default))
            if kind == "blob":
                return values.b64decode(text)
        except (ValueError, OverflowError):
            raise self.errors.malformed(path, text, f"a valid {kind}", location) from None
        raise TypeError(f"{kind} member {shape.name!r} cannot travel in the {location}")

    def _query_member(self, member, wire, query, bound, path):
        if member.type_name == "map":
            free = {k: v for k, v in query.items() if k not in bound}
            if not free:
                return None
            if member.value.type_name == "list":
                return {k: [self._from_text(member.value.member, i, path, "querystring") for i in v] for k, v in free.items()}
            return {k: self._from_text(member.value, v[0], path, "querystring") for k, v in free.items()}
        if wire not in query:
            return None
        if member.type_name == "list":
            return [self._from_text(member.member, item, path, "querystring") for item in query[wire]]
        return self._from_text(member, query[wire][0], path, "querystring")

    def _header_member(self, member, text, path):
        if member.type_name == "list":
            items = values.split_header_list(text)
            if member.member.type_name == "timestamp":
                items = _rejoin_http_dates(items)
            return [self._from_text(member.member, item, path, "header") for item in items if item != ""]
        if member.type_name == "string" and member.serialization.get("jsonvalue"):
            try:
                return json.loads(values.b64decode(text).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise self.errors.malformed(path, text, "base64-encoded JSON", "header") from None
        return self._from_text(member, text.strip() if member.type_name != "string" else text, path, "header")

    # -- body --------------------------------------------------------------------

    def _parse_body(self, request, shape, params, inflate: bool) -> None:
        name, payload = payload_member(shape)
        if payload is not None:
            path = (Step(name, payload),)
            if is_streaming(payload):
                stream = request.stream
                if stream is not None and not stream.consumed and not request.body:
                    params[name] = stream
                else:
                    params[name] = self.body(request, inflate=False)
                return
            body = self.body(request, inflate=inflate)
            if not body:
                return
            if payload.type_name == "blob":
                params[name] = body
            elif payload.type_name == "string":
                params[name] = self._decode_text(body, path)
            elif payload.type_name == "structure":
                params[name] = self.reader.read_members(payload, self._xml(body), path)
            else:
                raise TypeError(f"{payload.type_name} payload {payload.name!r} is not supported")
            return
        if not body_members(shape):
            return
        body = self.body(request, inflate=inflate)
        if body.strip():
            params.update(self.reader.read_members(shape, self._xml(body)))

    def _xml(self, body: bytes) -> ET.Element:
        try:
            return parse_xml(body)
        except ValueError as exc:
            raise self.errors.malformed_body(str(exc)) from None

    def _decode_text(self, body: bytes, path) -> str:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise self.errors.malformed(path, "", "UTF-8 text") from None


def _multi(pairs) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for key, value in pairs:
        query.setdefault(key, []).append(value)
    return query


def _header_safe(text: str) -> str:
    """A header name or value must not end the header early (response splitting)."""
    if "\r" in text or "\n" in text:
        raise ValueError(f"line break in a response header: {text!r}")
    return text


def _without_gzip(text: str, encodings: list[str]) -> str | None:
    """Content-Encoding as the handler should see it once we have inflated the gzip layer."""
    if not encodings or encodings[-1] != "gzip":
        return text
    rest = [e.strip() for e in text.split(",") if e.strip()][:-1]
    return ",".join(rest) if rest else None


def _rejoin_http_dates(items: list[str]) -> list[str]:
    """'Mon, 16 Dec 2019 23:48:18 GMT' contains a comma: glue split day names back on."""
    out: list[str] = []
    for item in items:
        if out and len(out[-1]) == 3 and out[-1].isalpha():
            out[-1] = f"{out[-1]}, {item}"
        else:
            out.append(item)
    return out


class RestXmlResponseSerializer(ResponseSerializer):
    PROTOCOL = "rest-xml"

    def __init__(self, service_model):
        super().__init__(service_model)
        self.namespace = service_model.metadata.get("xmlNamespace")
        self.writer = XmlWriter()

    # -- success -----------------------------------------------------------------

    def serialize(self, operation_model, result, request_id):
        result = result or {}
        response = self.new_response(int(operation_model.http.get("responseCode", 200)), None)
        self.add_request_id(response, request_id)
        shape = operation_model.output_shape
        if shape is None:
            return response
        self.write_locations(shape, result, response)
        name, payload = payload_member(shape)
        if payload is not None:
            self.write_payload(operation_model, payload, name, result.get(name), response)
        else:
            self.write_body(operation_model, shape, result, response)
        return response

    def write_locations(self, shape, result: dict, response) -> None:
        for name, member in shape.members.items():
            value = result.get(name)
            if value is None:
                continue
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "header":
                if member.type_name == "list" and not value:
                    continue
                response.headers.add(wire, _header_safe(self.header_text(member, value)))
            elif location == "headers":
                for key, item in value.items():
                    response.headers.add(_header_safe(wire + key), _header_safe(str(item)))
            elif location == "statusCode":
                response.status = int(value)

    def write_payload(self, operation_model, shape, name, value, response) -> None:
        if shape.serialization.get("eventstream"):
            raise UnhandledShapeType(f"event stream payload {shape.name!r} is not supported")
        if value is None:
            return
        if shape.type_name == "blob":
            response.body = value.encode("utf-8") if isinstance(value, str) else value
        elif shape.type_name == "string":
            response.body = str(value).encode("utf-8")
        elif shape.type_name == "structure":
            root = ET.Element(shape.serialization.get("name", name))
            self.add_namespace(root, shape)
            self.writer.write_members(shape, value, root)
            self.set_xml(response, root)
        else:
            raise TypeError(f"{shape.type_name} payload {shape.name!r} is not supported")

    def write_body(self, operation_model, shape, result: dict, response) -> None:
        if not any(result.get(name) is not None for name, _ in body_members(shape, OUTPUT_LOCATIONS)):
            return
        root = ET.Element(self.root_name(operation_model, shape))
        self.add_namespace(root, shape)
        self.writer.write_members(shape, result, root)
        self.set_xml(response, root)

    def root_name(self, operation_model, shape) -> str:
        return shape.serialization.get("name") or f"{operation_model.name}Response"

    def add_namespace(self, root: ET.Element, shape) -> None:
        """The shape's own namespace, else the service's."""
        if not add_namespace(shape, root) and self.namespace:
            root.set("xmlns", self.namespace)

    @staticmethod
    def set_xml(response, root: ET.Element) -> None:
        response.body = to_bytes(root)
        response.headers.set("Content-Type", XML_CONTENT_TYPE)

    def header_text(self, shape, value) -> str:
        kind = shape.type_name
        if kind == "list":
            if shape.member.type_name == "string":
                return ", ".join(values.quote_header_item(str(v)) for v in value if v is not None)
            return ", ".join(self.header_text(shape.member, v) for v in value if v is not None)
        if kind == "timestamp":
            return str(values.format_timestamp(value, values.timestamp_format(shape, values.RFC822)))
        if kind == "string" and shape.serialization.get("jsonvalue"):
            return values.b64encode(json.dumps(value, separators=(",", ":")))
        if kind == "boolean":
            return "true" if value else "false"
        if kind in ("float", "double"):
            return values.float_text(value)
        if kind == "blob":
            return values.b64encode(value)
        return str(value)

    def add_request_id(self, response, request_id: str) -> None:
        response.headers.add("x-amzn-RequestId", request_id)

    # -- errors --------------------------------------------------------------------

    def serialize_error(self, error, operation_model, request_id):
        shape = self.error_shape(error.code)
        response = self.new_response(self.error_status(error, shape), None)
        self.add_request_id(response, request_id)
        fields = self.error_members(error, shape)
        if shape is not None:
            self.write_locations(shape, fields, response)
        if operation_model is not None and operation_model.http.get("method", "").upper() == "HEAD":
            return response  # a HEAD answer has no body: clients read the status alone
        root, element = self.error_envelope(error)
        ET.SubElement(element, "Code").text = error.code
        ET.SubElement(element, "Message").text = error.message
        modelled = set()
        if shape is not None:
            modelled = set(shape.members)
            self.writer.write_members(shape, {k: v for k, v in fields.items() if k.lower() != "message"}, element)
        for key, value in fields.items():
            if key not in modelled and key.lower() != "message" and value is not None:
                ET.SubElement(element, key).text = str(value)
        self.finish_error_envelope(root, element, request_id)
        self.set_xml(response, root)
        return response

    def error_envelope(self, error) -> tuple[ET.Element, ET.Element]:
        """(root, the element Code/Message go in): ``<ErrorResponse><Error>`` as Route53 sends."""
        root = ET.Element("ErrorResponse")
        if self.namespace:
            root.set("xmlns", self.namespace)
        element = ET.SubElement(root, "Error")
        ET.SubElement(element, "Type").text = self.error_type(error)
        return root, element

    def finish_error_envelope(self, root, element, request_id: str) -> None:
        ET.SubElement(root, "RequestId").text = request_id
