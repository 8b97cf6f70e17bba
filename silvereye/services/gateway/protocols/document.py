"""The part the JSON and RPCv2-CBOR protocols share: walking a decoded document by shape.

Both protocols decode the whole body into Python maps, lists and scalars,
and both encode a result from the same kind of tree. They differ only in
how a few scalars travel (JSON: timestamps as epoch numbers, blobs in
base64, NaN as the string "NaN"; CBOR: tag 1 timestamps, byte strings,
native floats), how the operation is named (``X-Amz-Target`` vs. the
``/service/S/operation/O`` path), and the envelope bytes. Those are the
hooks subclasses fill in.

Errors: ``{"__type": ..., "message": ...}`` plus the error shape's members,
the request id in ``x-amzn-RequestId``. A service with the
``awsQueryCompatible`` trait (CloudWatch) also sends ``x-amzn-query-error:
Code;Sender`` so clients can report the code its Query API used; ``__type``
is then the error shape's name and the header carries the query code.
"""

from __future__ import annotations

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.protocols import values
from silvereye.services.gateway.protocols.base import RequestParser, ResponseSerializer
from silvereye.services.gateway.protocols.validate import CoralStyle, Step

_STEP_INDEX = "index"


class DocumentRequestParser(RequestParser):
    """Parses a decoded document (dicts, lists, scalars) into params."""

    @classmethod
    def error_style(cls, service_model):
        return CoralStyle.for_model(service_model, "ValidationException", serialization_code="SerializationException")

    def _parse(self, request, bucket):
        name = self.operation_name(request)
        operation = self.operation(name) if name else None
        if operation is None:
            raise self.unknown_operation(name or "")
        document = self.decode(self.body(request))
        shape = operation.input_shape
        if shape is None:
            return operation, {}
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise self.errors.malformed_body("The request body must be an object.")
        return operation, self._parse_structure(shape, document, ())

    def unknown_operation(self, name: str) -> ServiceError:
        shown = name or "(none)"
        return ServiceError("UnknownOperationException", f"Operation {shown} is not known to this service.", 400)

    # -- hooks -----------------------------------------------------------------

    def operation_name(self, request) -> str | None:
        raise NotImplementedError

    def decode(self, body: bytes):
        raise NotImplementedError

    # -- shapes ----------------------------------------------------------------

    def _expect(self, value, kinds, path, expected):
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise self.errors.malformed(path, value, expected)
        return value

    def _parse_structure(self, shape, value, path):
        if shape.is_document_type:
            return value
        self._expect(value, (dict,), path, "an object")
        parsed = {}
        for name, member in shape.members.items():
            item = value.get(member.serialization.get("name", name))
            if item is not None:
                parsed[name] = self._value(member, item, path + (Step(name, member),))
        return parsed

    def _parse_list(self, shape, value, path):
        self._expect(value, (list,), path, "a list")
        return [
            None if item is None else self._value(shape.member, item, path + (Step(str(i), None, _STEP_INDEX),))
            for i, item in enumerate(value, 1)
        ]

    def _parse_map(self, shape, value, path):
        self._expect(value, (dict,), path, "an object")
        parsed = {}
        for key, item in value.items():
            key = self._value(shape.key, key, path)
            parsed[key] = None if item is None else self._value(shape.value, item, path + (Step(str(key), None, "key"),))
        return parsed

    def _parse_string(self, shape, value, path):
        return self._expect(value, (str,), path, "a string")

    _parse_character = _parse_string

    def _parse_boolean(self, shape, value, path):
        return self._expect(value, (bool,), path, "a boolean")

    def _parse_integer(self, shape, value, path):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return self._expect(value, (int,), path, "an integer")

    _parse_long = _parse_integer

    def _parse_float(self, shape, value, path):
        if isinstance(value, str) and value in values.SPECIAL_FLOATS:
            return values.SPECIAL_FLOATS[value]
        return float(self._expect(value, (int, float), path, "a number"))

    _parse_double = _parse_float


class DocumentResponseSerializer(ResponseSerializer):
    """Builds the document tree of a result or error; subclasses encode it."""

    CONTENT_TYPE = ""

    def __init__(self, service_model):
        super().__init__(service_model)
        self.query_compatible = "awsQueryCompatible" in service_model.metadata

    def serialize(self, operation_model, result, request_id):
        shape = operation_model.output_shape
        if shape is None:
            document = None
        else:
            document = self._serialize_structure(shape, result or {})
        response = self.new_response(200, self.CONTENT_TYPE, self.encode(document))
        self.add_headers(response, request_id)
        return response

    def serialize_error(self, error, operation_model, request_id):
        shape = self.error_shape(error.code)
        document = {"__type": shape.name if (self.query_compatible and shape is not None) else error.code}
        fields = self.error_members(error, shape)
        if shape is not None:
            document.update(self._serialize_structure(shape, {k: v for k, v in fields.items() if k in shape.members}))
        for key, value in fields.items():
            if (shape is None or key not in shape.members) and value is not None:
                document[key] = str(value)
        if error.message and "message" not in document and "Message" not in document:
            document["message"] = error.message
        response = self.new_response(self.error_status(error, shape), self.CONTENT_TYPE, self.encode(document))
        self.add_headers(response, request_id)
        if self.query_compatible:
            response.headers.add("x-amzn-query-error", f"{error.code};{self.error_type(error)}")
        return response

    # -- hooks -----------------------------------------------------------------

    def encode(self, document) -> bytes:
        raise NotImplementedError

    def add_headers(self, response, request_id: str) -> None:
        response.headers.add("x-amzn-RequestId", request_id)

    # -- shapes ----------------------------------------------------------------

    def _serialize_structure(self, shape, value):
        if shape.is_document_type:
            return value
        out = {}
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                out[member.serialization.get("name", name)] = self._value(member, item)
        return out

    def _serialize_list(self, shape, value):
        return [None if item is None else self._value(shape.member, item) for item in value]

    def _serialize_map(self, shape, value):
        return {str(key): self._value(shape.value, item) for key, item in value.items() if item is not None}

    def _serialize_string(self, shape, value):
        return str(value)

    _serialize_character = _serialize_string

    def _serialize_boolean(self, shape, value):
        return bool(value)

    def _serialize_integer(self, shape, value):
        return int(value)

    _serialize_long = _serialize_integer
