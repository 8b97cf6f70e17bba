"""Which service a request is for, on a listener that serves them all.

In order (DESIGN.md): the SigV4 credential scope a client signed with; a
Eucalyptus-style path (``/services/compute``...); a virtual-host S3 name
(``bucket.s3.<domain>``); the JSON ``X-Amz-Target`` prefix; the Query
``Action`` with its ``Version`` (several services share action names such as
DescribeTags, never a version); a SigV2 S3 ``Authorization: AWS`` header; and
last, S3 for anonymous requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import HttpRequest
from silvereye.services.registry import Service

FORM = "application/x-www-form-urlencoded"


@dataclass
class Route:
    service: Service
    # For S3: the path with any /services/objectstorage prefix removed, and the
    # bucket named by a virtual-host name (None for path-style requests).
    s3_path: str | None = None
    vhost_bucket: str | None = None
    how: str = ""  # which rule matched (for logs and tests)


class Router:
    def __init__(self, services: list[Service], dns_domain: str):
        self.services = services
        self.by_signing: dict[str, Service] = {}
        self.by_path: dict[str, Service] = {}
        self.by_target: dict[str, Service] = {}
        self.by_action: dict[tuple[str, str], Service] = {}
        self.by_action_any: dict[str, list[Service]] = {}
        self.s3: Service | None = None
        for s in services:
            self.by_signing.setdefault(s.signing_name, s)
            self.by_path[s.euca_path.rstrip("/").lower()] = s
            meta = s.model.metadata
            if meta.get("targetPrefix"):
                self.by_target[meta["targetPrefix"]] = s
            for op in s.model.operation_names:
                self.by_action[(op, s.api_version)] = s
                self.by_action_any.setdefault(op, []).append(s)
            if s.name == "s3":
                self.s3 = s
        self.s3_suffix = f".s3.{dns_domain}".lower()
        self.s3_host = f"s3.{dns_domain}".lower()

    def needs_body(self, request: HttpRequest) -> bool:
        """Whether the Action may be in a form body we have not read yet."""
        return request.method == "POST" and request.content_type == FORM

    def route(self, request: HttpRequest, scope_service: str | None) -> Route:
        # 1. The service the client signed for.
        if scope_service:
            svc = self.by_signing.get(scope_service)
            if svc is None:
                raise ServiceError(
                    "InvalidClientTokenId" if scope_service else "UnknownService",
                    f"The service '{scope_service}' named in the credential scope is not offered by this endpoint.",
                    400,
                )
            return self._finish(svc, request, "sigv4-scope")

        # 2. Eucalyptus paths.
        lowered = request.raw_path.lower()
        for prefix, svc in self.by_path.items():
            if lowered == prefix or lowered.startswith(prefix + "/"):
                return self._finish(svc, request, "euca-path")

        # 3. Virtual-host S3.
        host = request.host.split(":", 1)[0].lower()
        if self.s3 is not None and (host.endswith(self.s3_suffix) or host == self.s3_host):
            return self._finish(self.s3, request, "s3-host")

        # 4. JSON target.
        target = request.headers.get("x-amz-target")
        if target and "." in target:
            svc = self.by_target.get(target.split(".", 1)[0])
            if svc is not None:
                return Route(svc, how="target")

        # 5. Query Action (+ Version).
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        if "Action" not in params and request.method == "POST" and request.content_type == FORM:
            params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        action = params.get("Action")
        if action:
            svc = self.by_action.get((action, params.get("Version", "")))
            if svc is None:
                candidates = self.by_action_any.get(action, [])
                if len(candidates) == 1:
                    svc = candidates[0]
            if svc is not None:
                return Route(svc, how="action")
            if self.s3 is None or "AWSAccessKeyId" in params or "SignatureVersion" in params:
                raise ServiceError("InvalidAction", f"The action {action} is not valid for this web service.", 400)

        # 6./7. S3: SigV2 header, or anonymous.
        if self.s3 is not None:
            return self._finish(self.s3, request, "s3-default")
        raise ServiceError("InvalidAction", "The request names no action this endpoint serves.", 400)

    def _finish(self, svc: Service, request: HttpRequest, how: str) -> Route:
        if svc is not self.s3:
            return Route(svc, how=how)
        path = request.raw_path
        prefix = svc.euca_path.rstrip("/")
        if path.lower() == prefix.lower() or path.lower().startswith(prefix.lower() + "/"):
            path = path[len(prefix):] or "/"
        host = request.host.split(":", 1)[0].lower()
        bucket = host[: -len(self.s3_suffix)] if host.endswith(self.s3_suffix) else None
        return Route(svc, s3_path=path, vhost_bucket=bucket or None, how=how)
