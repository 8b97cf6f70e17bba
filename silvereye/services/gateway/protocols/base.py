"""What every protocol parser and serializer shares.

A parser walks a wire value and a botocore shape together, dispatching on the
shape's type to ``_parse_<type>``; a serializer does the mirror image with
``_serialize_<type>``. A type a class has no method for is a bug in this
package, never something to skip quietly: :func:`dispatch` raises
:class:`UnhandledShapeType`.
"""

from __future__ import annotations

import zlib
from typing import Any

import botocore.model

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import Headers, HttpRequest, HttpResponse
from silvereye.services.gateway.protocols.validate import ErrorStyle, InputValidator

# A compressed body (CloudWatch PutMetricData is gzip'd by botocore beyond
# 10 KiB) may not inflate past this: a small request must not become a huge one.
MAX_INFLATED_BODY = 64 * 1024 * 1024


class UnhandledShapeType(TypeError):
    """A shape type this protocol has no rule for: a gap in silvereye, not bad input."""


def dispatch(codec: object, prefix: str, shape) -> Any:
    if shape.serialization.get("eventstream"):
        raise UnhandledShapeType(f"{type(codec).__name__}: event streams ({shape.name!r}) are not supported")
    method = getattr(codec, f"{prefix}_{shape.type_name}", None)
    if method is None:
        raise UnhandledShapeType(
            f"{type(codec).__name__} has no {prefix}_{shape.type_name} for shape {shape.name!r}"
        )
    return method


def content_encodings(request: HttpRequest) -> list[str]:
    return [e.strip().lower() for e in (request.headers.get("content-encoding") or "").split(",") if e.strip()]


class RequestParser:
    """Turns an :class:`HttpRequest` into ``(OperationModel, params)`` for one service.

    ``params`` are keyed by member names exactly as boto3 clients pass them;
    timestamps are aware UTC datetimes, blobs bytes, and a streaming blob
    payload the request's :class:`BodyStream` when the body was not read.
    """

    PROTOCOL = ""

    def __init__(self, service_model: botocore.model.ServiceModel):
        self.service_model = service_model
        self.errors = self.error_style(service_model)
        self.validator = InputValidator(self.errors)
        self._operations = set(service_model.operation_names)

    @classmethod
    def error_style(cls, service_model) -> ErrorStyle:
        raise NotImplementedError

    def parse(self, request: HttpRequest, *, bucket: str | None = None) -> tuple[botocore.model.OperationModel, dict]:
        """Parse and validate. ``bucket``: the bucket a router resolved from the Host (S3 only)."""
        try:
            operation, params = self._parse(request, bucket)
            self.validator.validate(operation.input_shape, params)
        except RecursionError:  # a body nested deeper than any model allows
            raise self.errors.malformed_body("The request nests values too deeply.") from None
        return operation, params

    def wants_stream(self, request: HttpRequest, *, bucket: str | None = None) -> bool:
        """True when the request's operation takes its body as a stream: do not read it first."""
        return False

    def _parse(self, request: HttpRequest, bucket: str | None) -> tuple[botocore.model.OperationModel, dict]:
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------

    def operation(self, name: str) -> botocore.model.OperationModel | None:
        if name not in self._operations:
            return None
        return self.service_model.operation_model(name)

    def body(self, request: HttpRequest, *, inflate: bool = True) -> bytes:
        """The request body, inflated when the client gzip'd it (Content-Encoding: ..., gzip).

        SDKs compress bodies of operations with the ``requestcompression``
        trait (CloudWatch PutMetricData) and append ``gzip`` to Content-Encoding.
        """
        data = request.body
        encodings = content_encodings(request)
        if inflate and data and encodings and encodings[-1] == "gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                data = inflater.decompress(data, MAX_INFLATED_BODY)
            except zlib.error:
                raise self.errors.malformed_body("The request body is not valid gzip data.") from None
            if inflater.unconsumed_tail:
                raise ServiceError("RequestEntityTooLarge", "The inflated request body is too large.", 413)
        return data

    def _value(self, shape, value, path):
        return dispatch(self, "_parse", shape)(shape, value, path)


class ResponseSerializer:
    """Turns a handler's result dict (shaped like the output shape) or a ServiceError into bytes."""

    PROTOCOL = ""

    def __init__(self, service_model: botocore.model.ServiceModel):
        self.service_model = service_model
        self._by_name = {shape.name: shape for shape in service_model.error_shapes}

    def serialize(self, operation_model, result: dict | None, request_id: str) -> HttpResponse:
        raise NotImplementedError

    def serialize_error(self, error: ServiceError, operation_model, request_id: str) -> HttpResponse:
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------

    def error_shape(self, code: str):
        """The model's error shape for a code (its query code, or its shape name)."""
        shape = self.service_model.shape_for_error_code(code)
        return shape if shape is not None else self._by_name.get(code)

    @staticmethod
    def error_status(error: ServiceError, shape) -> int:
        """The error's own status, else the model's httpStatusCode, else 500 for a server fault, else 400."""
        if error.status is not None:
            return int(error.status)
        if shape is not None:
            status = shape.metadata.get("error", {}).get("httpStatusCode")
            if status:
                return int(status)
            # botocore keeps "fault": true (a server-side error) only in the raw shape model.
            if shape._shape_model.get("fault"):
                return 500
        return 400

    @staticmethod
    def error_type(error: ServiceError) -> str:
        return "Sender" if error.sender_fault else "Receiver"

    @staticmethod
    def error_members(error: ServiceError, shape) -> dict:
        """The values of the error shape's members: the message plus the error's extra fields."""
        values = dict(error.fields)
        if shape is not None:
            for name in ("Message", "message"):
                if name in shape.members and name not in values and error.message:
                    values[name] = error.message
        return values

    @staticmethod
    def new_response(status: int, content_type: str | None, body=b"") -> HttpResponse:
        headers = Headers()
        if content_type:
            headers.add("Content-Type", content_type)
        return HttpResponse(status=status, headers=headers, body=body)

    def _value(self, shape, value, *args):
        return dispatch(self, "_serialize", shape)(shape, value, *args)
