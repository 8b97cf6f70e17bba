"""Everything a handler knows about the request it serves."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from silvereye.services.gateway.http import HttpRequest
from silvereye.services.gateway.identity import ANONYMOUS, Principal

if TYPE_CHECKING:  # pragma: no cover
    from silvereye.config import Config
    from silvereye.store import Store


@dataclass
class RequestContext:
    request: HttpRequest
    request_id: str
    service: str = ""  # botocore service name: 'ec2', 's3', 'iam', 'sts', ...
    operation: str = ""  # 'RunInstances'
    region: str = ""  # as the client signed it (may be '' for IAM/STS clients)
    principal: Principal = ANONYMOUS
    config: "Config | None" = None
    store: "Store | None" = None  # the durable state handlers read and write
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    # Set by the authenticator: how the request was signed ('sigv4', 'sigv4-query', 'sigv2', 'anonymous').
    auth_type: str = "anonymous"
    # Free-form values handlers and authorizers share within one request.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    @property
    def source_ip(self) -> str:
        return self.request.client_ip

    @property
    def secure_transport(self) -> bool:
        return self.request.scheme == "https"
