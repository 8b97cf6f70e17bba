"""EC2's dialect of the Query protocol.

Three differences from Query, each a small override: members are sent under
their ``queryName`` or capitalised ``locationName`` (or name) and lists are plain
``Name.1``, ``Name.2`` (:class:`EC2RequestParser`); responses carry
``<requestId>`` directly under the root instead of ``ResponseMetadata``, and
timestamps always have milliseconds as EC2 writes them; errors use the
``<Response><Errors><Error>`` envelope with ``<RequestID>``
(:class:`EC2ResponseSerializer`).
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.protocols.query import QueryRequestParser, QueryResponseSerializer
from silvereye.services.gateway.protocols.validate import EC2Style, ec2_query_name
from silvereye.services.gateway.protocols.xmlcodec import XmlWriter, to_bytes


class EC2RequestParser(QueryRequestParser):
    PROTOCOL = "ec2"

    @classmethod
    def error_style(cls, service_model):
        return EC2Style()

    def unknown_action(self, action: str) -> ServiceError:
        # EC2's wording: https://github.com/cognitect-labs/aws-api/issues/6
        return ServiceError("InvalidAction", f"The action {action} is not valid for this web service.", 400)

    def member_keys(self, member_shape, member_name: str) -> tuple[str, ...]:
        # botocore sends a member without locationName under its own name;
        # the EC2 protocol (and other SDKs) capitalise it.
        return (ec2_query_name(member_shape, member_name), member_name[:1].upper() + member_name[1:])

    def list_items(self, shape, node):
        return node.numbered()


class EC2ResponseSerializer(QueryResponseSerializer):
    PROTOCOL = "ec2"

    def make_writer(self) -> XmlWriter:
        return XmlWriter(always_millis=True)

    def write_result(self, operation_model, result, root):
        shape = operation_model.output_shape
        if shape is not None:
            self.writer.write_members(shape, result, root)

    def write_request_id(self, root, request_id):
        # EC2 puts requestId first; ElementTree appends, so move it to the front.
        element = ET.Element("requestId")
        element.text = request_id
        root.insert(0, element)

    def serialize_error(self, error, operation_model, request_id):
        shape = self.error_shape(error.code)
        root = ET.Element("Response")
        element = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
        self.write_error_body(error, shape, element)
        ET.SubElement(root, "RequestID").text = request_id
        return self.new_response(self.error_status(error, shape), self.CONTENT_TYPE, to_bytes(root))
