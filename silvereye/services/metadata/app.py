"""The metadata service's answers: one request in (method, path, headers, source), one response out.

EC2's rules, IMDSv1 and v2:

- ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``
  (1 to 21600) returns a session token; a missing or bad TTL is 400, and a
  token request carrying ``X-Forwarded-For`` (one relayed by a proxy) is
  refused with 403. The token response goes out with the instance's hop
  limit as its IP TTL (see :mod:`.server`), so it dies one hop too far away.
- ``GET``/``HEAD`` with ``X-aws-ec2-metadata-token``: the token must be
  valid and the caller's own, else 401. Without a token the request is
  IMDSv1, refused with 401 when the instance requires tokens
  (``HttpTokens=required``).
- With ``HttpEndpoint=disabled`` every request is refused (403).
- Anyone who is not a live instance of this cloud, and any path that does
  not exist for the caller, gets 404: an instance learns about itself only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from silvereye.services.metadata import tokens
from silvereye.services.metadata.tree import VERSIONS, Guest, resolve, tree

log = logging.getLogger("silvereye.metadata")

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    source: str


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    ttl: int | None = None  # IP TTL for this response (the token's hop limit)


def _text(status: int, text: str | bytes, **kw: Any) -> Response:
    body = text if isinstance(text, bytes) else text.encode()
    return Response(status, body, [("Content-Type", "text/plain")], **kw)


NOT_FOUND = 404


def _error(status: int) -> Response:
    reasons = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
    return _text(status, f"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<title>{status} - {reasons[status]}</title>\n")


class MetadataApp:
    """Answers requests; ``find_guest(address)`` and ``credentials`` are blocking, run through ``blocking``."""

    def __init__(self, find_guest: Callable[[str], Guest | None], credentials: Any,
                 blocking: Callable[..., Awaitable[Any]], signer: tokens.TokenSigner | None = None):
        self.find_guest = find_guest
        self.credentials = credentials
        self.blocking = blocking
        self.signer = signer or tokens.TokenSigner()

    async def __call__(self, request: Request) -> Response:
        try:
            return await self._answer(request)
        except Exception:
            log.exception("metadata request %s %s from %s failed", request.method, request.path, request.source)
            return _text(500, "Internal Server Error\n")

    async def _answer(self, request: Request) -> Response:
        guest = await self.blocking(self.find_guest, request.source)
        if guest is None:
            return _error(NOT_FOUND)
        if guest.http_endpoint != "enabled":
            return _error(403)
        path = request.path.split("?", 1)[0]
        if request.method == "PUT":
            return self._token(request, guest, path)
        if request.method not in ("GET", "HEAD"):
            return _error(405)
        token = request.headers.get(TOKEN_HEADER)
        if token is not None:
            if not self.signer.valid_for(token, guest.instance_id):
                return _error(401)
        elif guest.http_tokens == "required":
            return _error(401)
        return await self._read(guest, path)

    def _token(self, request: Request, guest: Guest, path: str) -> Response:
        if path != TOKEN_PATH:
            return _error(405)
        if "x-forwarded-for" in request.headers:
            return _error(403)
        ttl = tokens.parse_ttl(request.headers.get(TTL_HEADER))
        if ttl is None:
            return _error(400)
        token = self.signer.issue(guest.instance_id, ttl)
        response = _text(200, token, ttl=guest.hop_limit)
        response.headers.append(("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", str(ttl)))
        return response

    async def _read(self, guest: Guest, path: str) -> Response:
        parts = [p for p in path.split("/") if p]
        if not parts:
            return _text(200, "\n".join(VERSIONS))
        if parts[0] not in VERSIONS:
            return _error(NOT_FOUND)
        root = tree(guest, credentials=lambda: self.credentials.credentials(guest),
                     profile_info=lambda: self.credentials.info(guest))
        rest = parts[1:]
        if rest and rest[0] == "api":
            return _error(NOT_FOUND)
        found = await self.blocking(resolve, root, rest)  # role credentials write to the store
        if found is None:
            return _error(NOT_FOUND)
        return _text(200, found)
