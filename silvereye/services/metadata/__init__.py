"""The instance metadata service (EC2's 169.254.169.254), answering each instance about itself.

Guests reach it at 169.254.169.254:80, which the compute layer DNATs on the
silvereye bridge to ``<bridge address>:<network.metadata_port>``; it runs in
``silvereye serve``'s process and event loop, started by the EC2 service
once the instance network is up.

Modules: ``server`` (the HTTP/1.1 listener, h11 over asyncio), ``app`` (the
IMDSv1/v2 rules), ``tree`` (the meta-data, user-data and dynamic paths),
``lookup`` (the caller's instance by source address; role credentials),
``tokens`` (IMDSv2 session tokens).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from silvereye.services.metadata.app import MetadataApp, Request, Response
from silvereye.services.metadata.lookup import RoleCredentials, guest_at
from silvereye.services.metadata.server import MetadataServer


class MetadataService:
    """The listener with its answers, for one store and configuration."""

    def __init__(self, store: Any, cfg: Any, executor: Any = None):
        self.store, self.cfg = store, cfg
        self._executor = executor

        async def blocking(fn, *args):  # noqa: ANN001, ANN202
            return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args))

        self.app = MetadataApp(lambda address: guest_at(store, cfg, address), RoleCredentials(store), blocking)
        self.server = MetadataServer(self.app)

    async def start(self, host: str, port: int | None = None) -> None:
        await self.server.start(host, port if port is not None else self.cfg.network.metadata_port)

    async def close(self) -> None:
        await self.server.close()


__all__ = ["MetadataApp", "MetadataServer", "MetadataService", "Request", "Response"]
