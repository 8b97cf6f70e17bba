"""A real boto3 client whose HTTP hop is replaced by our codecs, in process.

botocore does everything it does against AWS -- parameter handling, request
compression, signing, S3 addressing, response parsing and its service
customizations -- except that its ``before-send`` event hands the prepared
request to :class:`InProcessGateway` instead of the network. The gateway
parses it with our parser, calls a handler (a dict of operation -> function
of params), and serializes the result or ServiceError with our serializer.
This is the round trip an SDK user makes, minus sockets.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import functools
import io
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import FileBody, HttpRequest
from silvereye.services.gateway.models import service_model
from silvereye.services.gateway.protocols import detect_protocol, parser_for, serializer_for

from .wire import to_http_request

HOST = "silvereye.test"
ENDPOINT = f"http://{HOST}:8773"


@dataclass
class Call:
    operation: str
    params: dict
    request: HttpRequest
    protocol: str
    request_id: str
    status: int = 0


class _RawBody(io.BytesIO):
    """What botocore reads a response body from (urllib3's HTTPResponse, reduced)."""

    def stream(self, amt=1024 * 64, decode_content=False):
        while True:
            chunk = self.read(amt)
            if not chunk:
                return
            yield chunk


def body_bytes(body) -> bytes:
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, FileBody):
        with open(body.path, "rb") as f:
            f.seek(body.offset)
            return f.read() if body.length < 0 else f.read(body.length)

    async def drain():
        return b"".join([chunk async for chunk in body])

    return asyncio.run(drain())


_MODEL_COPIES = Path(tempfile.mkdtemp(prefix="codecs-models-"))
atexit.register(shutil.rmtree, _MODEL_COPIES, True)


@functools.lru_cache(maxsize=None)
def _session(service: str, protocol: str | None) -> botocore.session.Session:
    """One botocore session per (service, forced protocol): it caches the loaded models."""
    session = botocore.session.Session()
    if protocol is not None:
        # A data directory whose copy of the model lists only ``protocol``, so botocore speaks it.
        data = copy.deepcopy(session.get_component("data_loader").load_service_model(service, "service-2"))
        data["metadata"]["protocol"] = protocol
        data["metadata"]["protocols"] = [protocol]
        target = _MODEL_COPIES / protocol
        (target / service / data["metadata"]["apiVersion"]).mkdir(parents=True, exist_ok=True)
        (target / service / data["metadata"]["apiVersion"] / "service-2.json").write_text(json.dumps(data))
        session = botocore.session.Session()
        session.get_component("data_loader").search_paths.insert(0, str(target))
    return session


class InProcessGateway:
    def __init__(self, service: str, handlers: dict[str, Callable[[dict], dict | None]] | None = None):
        self.service = service
        self.model = service_model(service)
        self.handlers = handlers or {}
        self.calls: list[Call] = []

    @property
    def last(self) -> Call:
        return self.calls[-1]

    def client(self, *, protocol: str | None = None, **config):
        """A boto3-equivalent client; ``protocol`` makes it speak that one of the service's protocols."""
        session = _session(self.service, protocol)
        config.setdefault("retries", {"max_attempts": 1})
        client = session.create_client(
            self.service, region_name="us-east-1", endpoint_url=ENDPOINT,
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", config=Config(**config),
        )
        client.meta.events.register("before-send", self._send)
        return client

    def _send(self, request, **kwargs):
        http_request = to_http_request(request)
        bucket = self._virtual_host_bucket(http_request)
        protocol = detect_protocol(self.model, http_request)
        parser = parser_for(self.model, protocol)
        serializer = serializer_for(self.model, protocol)
        request_id = str(uuid.uuid4())
        operation = None
        try:
            operation, params = parser.parse(http_request, bucket=bucket)
            call = Call(operation.name, params, http_request, protocol, request_id)
            self.calls.append(call)
            handler = self.handlers.get(operation.name)
            if handler is None:
                raise ServiceError("NotImplemented", f"no handler for {operation.name}", 501, sender_fault=False)
            response = serializer.serialize(operation, handler(params), request_id)
        except ServiceError as error:
            self.calls.append(Call(operation.name if operation else "", {}, http_request, protocol, request_id))
            response = serializer.serialize_error(error, operation, request_id)
        self.last.status = response.status
        return AWSResponse(request.url, response.status, response.headers.items(), _RawBody(body_bytes(response.body)))

    def _virtual_host_bucket(self, request: HttpRequest) -> str | None:
        """What the router does for virtual-host S3: the bucket is the Host's first label."""
        host = urlsplit("//" + request.host).hostname or ""
        return host[: -len(HOST) - 1] if host.endswith("." + HOST) else None
