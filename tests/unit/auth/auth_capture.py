"""Real clients, real wire: a tiny HTTP(S) server that records what botocore sends.

Tests drive an unmodified botocore client (or one of botocore's signers) at
this server; each captured request becomes the HttpRequest the gateway would
have built, so the authenticator sees exactly the bytes a client puts on the
wire: path and query as sent, headers as sent, HTTP chunked framing removed,
aws-chunked framing left in place.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.session
from botocore.auth import BaseSigner
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import URLLib3Session
from botocore.parsers import ResponseParserError

import pytest

from silvereye.services.gateway.auth import authenticate
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import BodyStream, Headers, HttpRequest
from silvereye.services.gateway.identity import Credential, Principal, StaticCredentialResolver

UTC = dt.timezone.utc
ACCOUNT = "123456789012"


@dataclass
class Wire:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def request(self, *, streaming: bool = False, piece: int = 65536) -> HttpRequest:
        path, _, query = self.target.partition("?")
        request = HttpRequest(
            method=self.method, raw_path=path, query_string=query, headers=Headers(self.headers), client_ip="127.0.0.1"
        )
        if streaming:
            request.stream = body_stream(self.body, piece)
        else:
            request.body = self.body
        return request


def body_stream(body: bytes, piece: int = 65536) -> BodyStream:
    async def pieces():
        for start in range(0, len(body), piece):
            yield body[start : start + piece]

    return BodyStream(pieces())


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _record(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.captured.append(Wire(self.command, self.path, list(self.headers.items()), body))
        self.send_response(404)  # not retried by botocore: one request per call
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _record

    def log_message(self, *args) -> None:
        pass


class CaptureServer:
    def __init__(self, cert_dir: Path | None = None):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        self._server.captured = []
        self.scheme = "http"
        if cert_dir is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self_signed(cert_dir))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def last(self) -> Wire:
        return self._server.captured[-1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def self_signed(directory: Path) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1 (cryptography comes with paramiko)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = directory / "auth-test.crt", directory / "auth-test.key"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


# ---- clients and keys ---------------------------------------------------------------


def client(service: str, endpoint: str, key: str, secret: str, token: str | None = None,
           region: str = "us-east-1", **config):
    session = botocore.session.Session()
    return session.create_client(
        service, region_name=region, endpoint_url=endpoint, aws_access_key_id=key,
        aws_secret_access_key=secret, aws_session_token=token, verify=False,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def call(server: CaptureServer, api, operation: str, **params) -> Wire:
    """Make one call with a real client; the fake 404 answer is expected and ignored."""
    try:
        getattr(api, operation)(**params)
    except (ClientError, BotoCoreError, ResponseParserError):  # the capture server's empty 404
        pass
    return server.last()


def send_signed(server: CaptureServer, signer: BaseSigner, method: str, path: str, *,
                data: bytes | dict | None = None, headers: dict | None = None, params: dict | None = None,
                auth_path: str | None = None) -> Wire:
    """Sign a request with one of botocore's signers and send it over the wire."""
    request = AWSRequest(
        method=method, url=server.url + path, data=data, headers=headers or {}, params=params or {},
        auth_path=auth_path,
    )
    signer.add_auth(request)
    URLLib3Session(verify=False).send(request.prepare())
    return server.last()


def presign(server: CaptureServer, signer: BaseSigner, method: str, path: str, params: dict | None = None) -> str:
    request = AWSRequest(method=method, url=server.url + path, params=params or {})
    signer.add_auth(request)
    return request.prepare().url


def fetch(server: CaptureServer, url: str, method: str = "GET", body: bytes | None = None,
          headers: dict | None = None) -> Wire:
    """Use a URL the way curl would: plain HTTP, no signing."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    URLLib3Session(verify=False).send(request.prepare())
    return server.last()


def creds(key: str, secret: str, token: str | None = None) -> Credentials:
    return Credentials(key, secret, token)


def principal(name: str) -> Principal:
    return Principal(
        account_id=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:user/{name}", user_id="AIDA" + name.upper(), kind="user",
        name=name,
    )


class RecordingResolver(StaticCredentialResolver):
    """The test resolver: fixed keys, and a log of record_use calls."""

    def __init__(self, credentials: dict[str, Credential]):
        super().__init__(credentials)
        self.uses: list[tuple[str, str, str]] = []

    def record_use(self, access_key_id: str, service: str, region: str) -> None:
        self.uses.append((access_key_id, service, region))


def run(coroutine):
    return asyncio.run(coroutine)


async def drain(verifier, stream) -> bytes:
    out = bytearray()
    async for data in verifier.iter_decoded(stream):
        out += data
    return bytes(out)


def refused(request: HttpRequest, service: str, resolver, **kwargs) -> ServiceError:
    """The error authenticate raises for this request (the test fails if it accepts it)."""
    with pytest.raises(ServiceError) as caught:
        authenticate(request, service=service, resolver=resolver, **kwargs)
    return caught.value
