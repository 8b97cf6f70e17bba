"""Small facts about this host's network that several parts need."""

from __future__ import annotations

import socket


def primary_address() -> str:
    """The IPv4 address of the interface holding the default route ('127.0.0.1' if none).

    Connecting a UDP socket sends nothing; it only asks the kernel which source
    address it would use towards a documentation address (RFC 5737).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def public_host(cfg) -> str:  # noqa: ANN001 - Config, imported lazily by callers
    return cfg.api.public_host or primary_address()


def endpoint_url(cfg) -> str:  # noqa: ANN001
    """The URL clients use for every service of this cloud."""
    scheme = "https" if cfg.api.tls else "http"
    return f"{scheme}://{public_host(cfg)}:{cfg.api.port}"
