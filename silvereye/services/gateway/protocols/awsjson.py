"""The AWS JSON 1.0/1.1 protocol (CloudWatch as boto3 1.44 and the JS SDK v3 speak it).

The operation comes from ``X-Amz-Target: <targetPrefix>.<Operation>``, the
params from a JSON object body. Timestamps travel as epoch seconds unless a
``timestampFormat`` trait says otherwise, blobs in base64, and the IEEE
special floats as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

import json

from silvereye.services.gateway.protocols import values
from silvereye.services.gateway.protocols.document import DocumentRequestParser, DocumentResponseSerializer


class JsonRequestParser(DocumentRequestParser):
    PROTOCOL = "json"

    def operation_name(self, request):
        prefix, _, name = (request.headers.get("x-amz-target") or "").rpartition(".")
        if not name or prefix != self.service_model.metadata.get("targetPrefix"):
            return None
        return name

    def decode(self, body: bytes):
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.errors.malformed_body(f"The request body is not valid JSON: {exc}") from None

    def _parse_timestamp(self, shape, value, path):
        fmt = values.timestamp_format(shape, values.EPOCH)
        try:
            return values.parse_timestamp(self._expect(value, (int, float, str), path, "a timestamp"), fmt)
        except (ValueError, OverflowError):
            raise self.errors.malformed(path, value, "a timestamp") from None

    def _parse_blob(self, shape, value, path):
        try:
            return values.b64decode(self._expect(value, (str,), path, "base64 data"))
        except ValueError:
            raise self.errors.malformed(path, value, "base64 data") from None


class JsonResponseSerializer(DocumentResponseSerializer):
    PROTOCOL = "json"

    def __init__(self, service_model):
        super().__init__(service_model)
        self.CONTENT_TYPE = f"application/x-amz-json-{service_model.metadata.get('jsonVersion', '1.0')}"

    def encode(self, document) -> bytes:
        return json.dumps({} if document is None else document, separators=(",", ":"), allow_nan=False).encode("utf-8")

    def _serialize_timestamp(self, shape, value):
        return values.format_timestamp(value, values.timestamp_format(shape, values.EPOCH))

    def _serialize_blob(self, shape, value):
        return values.b64encode(value)

    def _serialize_float(self, shape, value):
        return values.float_or_special(value)

    _serialize_double = _serialize_float
