"""Driving IAM and STS handlers the way the gateway does, without HTTP.

A :class:`Harness` owns a store with one account ('acme') and calls an
operation as a given principal: the service's authorizer first (so the
policies decide, as on the wire), then the handler.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator

import pytest

from silvereye.services import iam, sts
from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import HttpRequest
from silvereye.services.gateway.identity import Principal
from silvereye.services.iam import accounts
from silvereye.services.iam.access import IamAccess
from silvereye.services.iam.credentials import StoreCredentialResolver
from silvereye.store import Store

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def allow(*actions: str, resource: str = "*", effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": list(actions), "Resource": resource}]})


def trust(*aws: str, action: str | list[str] = "sts:AssumeRole") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": list(aws)}, "Action": action}]})


class Harness:
    def __init__(self, store: Store, account: str = "acme", *, existing: bool = False):
        """A new account (or, with ``existing``, one already in the store) to act in."""
        self.store = store
        self.resolver = StoreCredentialResolver(store)
        self.access = IamAccess(store)
        with store.write() as conn:
            key = accounts.root_key(conn, account) if existing else accounts.create(conn, account)
        self.account_id = key.account_id
        self.root = self.principal(key.access_key_id)

    def principal(self, access_key_id: str) -> Principal:
        cred = self.resolver.lookup(access_key_id)
        assert cred is not None, f"no credential for {access_key_id}"
        return cred.principal

    def ctx(self, principal: Principal | None = None, *, source_ip: str = "10.0.0.1") -> RequestContext:
        request = HttpRequest(method="POST", raw_path="/", client_ip=source_ip)
        return RequestContext(request=request, request_id="test", principal=principal or self.root,
                              store=self.store, region="silvereye-1")

    def call(self, operation: str, as_: Principal | None = None, **params: Any) -> dict[str, Any]:
        service = iam.SERVICE if operation in iam.SERVICE.handlers else sts.SERVICE
        ctx = self.ctx(as_)
        ctx.operation = operation
        service.authorize(ctx, operation, params)
        return service.handlers[operation](ctx, params)

    def user(self, name: str, *policies: str) -> Principal:
        """A user with an access key and these inline policies; returns its principal."""
        self.call("CreateUser", UserName=name)
        for i, doc in enumerate(policies):
            self.call("PutUserPolicy", UserName=name, PolicyName=f"p{i}", PolicyDocument=doc)
        key = self.call("CreateAccessKey", UserName=name)["AccessKey"]
        return self.principal(key["AccessKeyId"])


@contextlib.contextmanager
def fails(code: str, status: int | None = None, match: str | None = None) -> Iterator[pytest.ExceptionInfo]:
    with pytest.raises(ServiceError) as info:
        yield info
    assert info.value.code == code, f"{info.value.code}: {info.value.message}"
    if status is not None:
        assert info.value.status == status
    if match is not None:
        assert match in info.value.message, info.value.message
