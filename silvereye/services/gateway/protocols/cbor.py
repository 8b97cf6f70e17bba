"""The Smithy RPC v2 CBOR protocol (CloudWatch's preferred wire in newer SDKs).

Requests are ``POST /service/<targetPrefix>/operation/<Operation>`` with
``smithy-protocol: rpc-v2-cbor`` and a CBOR map body; responses carry the
same header. Timestamps are CBOR tag 1 (epoch seconds, integer or float),
blobs are byte strings, floats are native (NaN and the infinities included).
The router may leave a path prefix (``/services/CloudWatch``) in front: the
operation is taken from the end of the path.
"""

from __future__ import annotations

import datetime as dt
import re

import cbor2

from silvereye.services.gateway.protocols import values
from silvereye.services.gateway.protocols.document import DocumentRequestParser, DocumentResponseSerializer

_OPERATION_PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)/?$")
EPOCH_TAG = 1


class CborRequestParser(DocumentRequestParser):
    PROTOCOL = "smithy-rpc-v2-cbor"

    def operation_name(self, request):
        match = _OPERATION_PATH.search(request.path)
        if match is None or match.group(1) != self.service_model.metadata.get("targetPrefix"):
            return None
        return match.group(2)

    def decode(self, body: bytes):
        if not body:
            return {}
        try:
            return cbor2.loads(body)
        except (cbor2.CBORDecodeError, ValueError, TypeError) as exc:
            raise self.errors.malformed_body(f"The request body is not valid CBOR: {exc}") from None

    def _parse_timestamp(self, shape, value, path):
        if isinstance(value, dt.datetime):
            return values.to_datetime(value)
        try:
            return values.parse_timestamp(self._expect(value, (int, float), path, "a timestamp"), values.EPOCH)
        except (ValueError, OverflowError):
            raise self.errors.malformed(path, value, "a timestamp") from None

    def _parse_blob(self, shape, value, path):
        return bytes(self._expect(value, (bytes, bytearray), path, "a byte string"))

    def _parse_float(self, shape, value, path):
        return float(self._expect(value, (int, float), path, "a number"))

    _parse_double = _parse_float


class CborResponseSerializer(DocumentResponseSerializer):
    PROTOCOL = "smithy-rpc-v2-cbor"
    CONTENT_TYPE = "application/cbor"

    def encode(self, document) -> bytes:
        return b"" if document is None else cbor2.dumps(document)

    def add_headers(self, response, request_id):
        super().add_headers(response, request_id)
        response.headers.add("smithy-protocol", "rpc-v2-cbor")

    def _serialize_timestamp(self, shape, value):
        return cbor2.CBORTag(EPOCH_TAG, values.format_timestamp(value, values.EPOCH))

    def _serialize_blob(self, shape, value):
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def _serialize_float(self, shape, value):
        return float(value)

    _serialize_double = _serialize_float
