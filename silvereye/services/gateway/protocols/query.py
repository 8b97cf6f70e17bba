"""The AWS Query protocol (IAM, STS, ELB, AutoScaling, CloudFormation, CloudWatch's oldest form).

Requests are flat form parameters (``Action=CreateUser&UserName=alice``,
``Tags.member.1.Key=k``) in the query string or a form-encoded body. The
parser first folds the dotted keys into a tree (``Tags`` -> ``member`` ->
``1`` -> ``Key``), then walks the tree with the input shape. Responses are
``<OpResponse><OpResult>...</OpResult><ResponseMetadata>`` XML; errors are
``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import HttpRequest, HttpResponse
from silvereye.services.gateway.protocols import values
from silvereye.services.gateway.protocols.base import RequestParser, ResponseSerializer
from silvereye.services.gateway.protocols.validate import CoralStyle, Step
from silvereye.services.gateway.protocols.xmlcodec import XmlWriter, flattened_item_name, member_xml_name, to_bytes

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class ParamNode:
    """One dotted-key prefix of the form: its own value (if sent) and its children."""

    __slots__ = ("value", "children")

    def __init__(self):
        self.value: str | None = None
        self.children: dict[str, ParamNode] = {}

    @classmethod
    def from_pairs(cls, pairs) -> "ParamNode":
        root = cls()
        for key, value in pairs:
            node = root
            for part in key.split("."):
                node = node.children.setdefault(part, cls())
            node.value = value
        return root

    def numbered(self) -> list["ParamNode"]:
        """Children keyed 1, 2, 3... in numeric order (gaps allowed, other keys ignored)."""
        items = [(int(k), v) for k, v in self.children.items() if k.isascii() and k.isdigit() and len(k) < 10]
        return [node for _, node in sorted(items, key=lambda kv: kv[0])]


def form_pairs(request: HttpRequest, body: bytes) -> list[tuple[str, str]]:
    """Query-string parameters followed by form-body parameters."""
    pairs = list(request.query)
    content_type = request.content_type
    if body and (content_type == FORM_CONTENT_TYPE or not content_type):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ServiceError("MalformedQueryString", "The request body is not valid UTF-8.", 400) from None
        pairs += parse_qsl(text, keep_blank_values=True)
    return pairs


class QueryRequestParser(RequestParser):
    PROTOCOL = "query"

    @classmethod
    def error_style(cls, service_model):
        return CoralStyle.for_model(service_model, "ValidationError")

    def _parse(self, request, bucket):
        pairs = form_pairs(request, self.body(request))
        action = next((v for k, v in pairs if k == "Action"), None)
        if not action:
            raise ServiceError("MissingAction", "The request must contain the parameter Action.", 400)
        operation = self.operation(action)
        if operation is None:
            raise self.unknown_action(action)
        shape = operation.input_shape
        if shape is None:
            return operation, {}
        return operation, self._parse_structure(shape, ParamNode.from_pairs(pairs), ())

    def unknown_action(self, action: str) -> ServiceError:
        # Coral's Query answer, e.g. SES in https://github.com/aws/aws-cli/issues/37
        version = self.service_model.metadata.get("apiVersion", "")
        return ServiceError("InvalidAction", f"Could not find operation {action} for version {version}", 400)

    def member_keys(self, member_shape, member_name: str) -> tuple[str, ...]:
        """Keys a structure member may be sent under, the standard one first.

        botocore names a flattened list's items by the item's locationName,
        Smithy by the member's: accept both.
        """
        return (member_xml_name(member_shape, member_name), flattened_item_name(member_shape) or "")

    # -- shapes ----------------------------------------------------------------

    def _parse_structure(self, shape, node: ParamNode, path):
        parsed = {}
        for name, member in shape.members.items():
            child = next((node.children[k] for k in self.member_keys(member, name) if k in node.children), None)
            if child is not None:
                parsed[name] = self._value(member, child, path + (Step(name, member),))
        return parsed

    def _parse_list(self, shape, node: ParamNode, path):
        if node.value == "" and not node.children:
            return []  # "Tags=" is how Query clients send an empty list
        items = self.list_items(shape, node)
        return [
            self._value(shape.member, item, path + (Step(str(i), None, "index"),))
            for i, item in enumerate(items, 1)
        ]

    def list_items(self, shape, node: ParamNode) -> list[ParamNode]:
        if shape.serialization.get("flattened"):
            return node.numbered()
        inner = node.children.get(shape.member.serialization.get("name", "member"))
        return inner.numbered() if inner is not None else []

    def _parse_map(self, shape, node: ParamNode, path):
        if shape.serialization.get("flattened"):
            entries = node.numbered()
        else:
            inner = node.children.get("entry")
            entries = inner.numbered() if inner is not None else []
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        parsed = {}
        for entry in entries:
            key_node, value_node = entry.children.get(key_name), entry.children.get(value_name)
            if key_node is None:
                continue
            key = self._value(shape.key, key_node, path)
            if value_node is not None:
                parsed[key] = self._value(shape.value, value_node, path + (Step(str(key), None, "key"),))
        return parsed

    def _scalar(self, node: ParamNode, path, convert, expected):
        if node.value is None:
            raise self.errors.malformed(path, "", expected)
        try:
            return convert(node.value)
        except (ValueError, TypeError, OverflowError):
            raise self.errors.malformed(path, node.value, expected) from None

    def _parse_string(self, shape, node, path):
        return self._scalar(node, path, str, "a string")

    _parse_character = _parse_string

    def _parse_boolean(self, shape, node, path):
        return self._scalar(node, path, values.parse_boolean, "a boolean")

    def _parse_integer(self, shape, node, path):
        return self._scalar(node, path, values.parse_integer, "an integer")

    _parse_long = _parse_integer

    def _parse_float(self, shape, node, path):
        return self._scalar(node, path, values.parse_float, "a number")

    _parse_double = _parse_float

    def _parse_timestamp(self, shape, node, path):
        fmt = values.timestamp_format(shape, values.ISO8601)
        return self._scalar(node, path, lambda t: values.parse_timestamp(t, fmt), "a timestamp")

    def _parse_blob(self, shape, node, path):
        return self._scalar(node, path, values.b64decode, "base64 data")


class QueryResponseSerializer(ResponseSerializer):
    PROTOCOL = "query"
    CONTENT_TYPE = "text/xml"

    def __init__(self, service_model):
        super().__init__(service_model)
        self.namespace = service_model.metadata.get("xmlNamespace")
        self.writer = self.make_writer()

    def make_writer(self) -> XmlWriter:
        return XmlWriter()

    def root(self, name: str) -> ET.Element:
        element = ET.Element(name)
        if self.namespace:
            element.set("xmlns", self.namespace)
        return element

    def serialize(self, operation_model, result, request_id) -> HttpResponse:
        root = self.root(f"{operation_model.name}Response")
        self.write_result(operation_model, result or {}, root)
        self.write_request_id(root, request_id)
        return self.new_response(200, self.CONTENT_TYPE, to_bytes(root))

    def write_result(self, operation_model, result: dict, root: ET.Element) -> None:
        shape = operation_model.output_shape
        if shape is None:
            return
        wrapper = shape.serialization.get("resultWrapper")
        target = ET.SubElement(root, wrapper) if wrapper else root
        self.writer.write_members(shape, result, target)

    def write_request_id(self, root: ET.Element, request_id: str) -> None:
        metadata = ET.SubElement(root, "ResponseMetadata")
        ET.SubElement(metadata, "RequestId").text = request_id

    def serialize_error(self, error, operation_model, request_id) -> HttpResponse:
        shape = self.error_shape(error.code)
        root = self.root("ErrorResponse")
        element = ET.SubElement(root, "Error")
        ET.SubElement(element, "Type").text = self.error_type(error)
        self.write_error_body(error, shape, element)
        ET.SubElement(root, "RequestId").text = request_id
        return self.new_response(self.error_status(error, shape), self.CONTENT_TYPE, to_bytes(root))

    def write_error_body(self, error, shape, element: ET.Element) -> None:
        """Code, Message, then the error shape's other members and any unmodelled fields."""
        ET.SubElement(element, "Code").text = error.code
        ET.SubElement(element, "Message").text = error.message
        fields = self.error_members(error, shape)
        modelled = set()
        if shape is not None:
            modelled = set(shape.members)
            extra = {k: v for k, v in fields.items() if k in modelled and k.lower() != "message"}
            self.writer.write_members(shape, extra, element)
        for key, value in fields.items():
            if key not in modelled and key.lower() != "message" and value is not None:
                ET.SubElement(element, key).text = str(value)
