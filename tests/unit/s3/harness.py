"""The real gateway with every service, served by uvicorn in a thread of the test process.

Faster than a ``silvereye serve`` child (no interpreter start, no port
handshake through the CLI) while keeping every real layer: HTTP, SigV4/V2,
the codecs, IAM's policies, the store and the blob store on disk. Accounts
and users are made with IAM's own functions; clients are real boto3 clients.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import uvicorn
from botocore.config import Config as BotoConfig

from silvereye.config import from_dict
from silvereye.services.gateway.app import Gateway
from silvereye.services.iam import accounts
from silvereye.services.iam.access import IamAccess
from silvereye.services.iam.credentials import StoreCredentialResolver
from silvereye.services.registry import load_services
from silvereye.store import open_store

REGION = "silvereye-1"
DOMAIN = "cloud.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Keys:
    access_key: str
    secret_key: str
    account_id: str


class InProcessServer:
    def __init__(self, root: Path, store_url: str = ""):
        self.root = root
        self.port = free_port()
        self.config = from_dict({
            "region": REGION, "dns_domain": DOMAIN, "data_dir": str(root / "data"), "log_dir": str(root / "log"),
            "api": {"listen": "127.0.0.1", "port": self.port, "public_host": "127.0.0.1"},
            "network": {"metadata_port": free_port()},
            "store": {"url": store_url},
        })
        services = load_services()
        self.store = open_store(self.config.store_url)
        self.gateway = Gateway(config=self.config, services=services, store=self.store,
                               resolver=StoreCredentialResolver(self.store), access=IamAccess(self.store), threads=8)
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.gateway, host="127.0.0.1", port=self.port, loop="asyncio",
                                                     http="httptools", lifespan="on", log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="s3-test-server", daemon=True)

    def start(self) -> "InProcessServer":
        self._thread.start()
        deadline = time.time() + 20
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.store.close()

    # -- accounts and clients ------------------------------------------------------------

    def account(self, name: str) -> Keys:
        with self.store.write() as conn:
            found = accounts.find(conn, name)
            key = accounts.root_key(conn, name) if found else accounts.create(conn, name)
        return Keys(key.access_key_id, key.secret_access_key, key.account_id)

    def user(self, root: Keys, name: str, *statements: dict[str, Any]) -> Keys:
        """An IAM user of root's account with one inline policy made of ``statements``."""
        iam = self.client("iam", root)
        iam.create_user(UserName=name)
        if statements:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": list(statements)}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        time.sleep(0.05)
        return Keys(key["AccessKeyId"], key["SecretAccessKey"], root.account_id)

    def client(self, service: str, keys: Keys | None, **config: Any):  # noqa: ANN201
        from botocore import UNSIGNED

        cfg: dict[str, Any] = {"retries": {"max_attempts": 1}, **config}
        if keys is None:
            cfg["signature_version"] = UNSIGNED
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=keys.access_key if keys else "x", aws_secret_access_key=keys.secret_key if keys else "x",
            config=BotoConfig(**cfg),
        )

    def run(self, coro):  # noqa: ANN001, ANN201 - run a coroutine on the server's loop (internal API tests)
        loop = self.gateway_loop()
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    def gateway_loop(self) -> asyncio.AbstractEventLoop:
        for task in self.gateway.background:
            return task.get_loop()
        raise RuntimeError("no background task: the server has not started")
