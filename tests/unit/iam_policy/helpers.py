"""Principals and small helpers shared by the policy-engine tests."""

from __future__ import annotations

import datetime as dt

from silvereye.services.gateway.identity import ANONYMOUS, Principal
from silvereye.services.iam.policy import build_context, evaluate_policy, parse_policy

ACCOUNT = "111122223333"
OTHER = "444455556666"
NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def user(name="alice", account=ACCOUNT, tags=(), path="/", key="AKIAEXAMPLE00000001"):
    return Principal(
        account_id=account,
        arn=f"arn:aws:iam::{account}:user{path}{name}",
        user_id=f"AIDA{name.upper()}EXAMPLE0001",
        kind="user",
        name=name,
        access_key_id=key,
        tags=tuple(tags),
    )


def root(account=ACCOUNT):
    return Principal(account_id=account, arn=f"arn:aws:iam::{account}:root", user_id=account, kind="root")


def role_session(role="deployer", session="s1", account=ACCOUNT, tags=(), mfa=False):
    role_id = "AROAEXAMPLEROLE00001"
    return Principal(
        account_id=account,
        arn=f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        user_id=f"{role_id}:{session}",
        kind="assumed-role",
        name=role,
        access_key_id="ASIAEXAMPLE00000001",
        session_name=session,
        role_id=role_id,
        tags=tuple(tags),
        mfa=mfa,
    )


def service(name="ec2.amazonaws.com"):
    return Principal(account_id="", arn=name, user_id=name, kind="service", name=name)


anonymous = ANONYMOUS


def policy(*statements, version="2012-10-17", kind="identity"):
    doc = {"Statement": list(statements)}
    if version:
        doc["Version"] = version
    return parse_policy(doc, kind=kind)


def allow(action="*", resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="*", resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def context(principal, **extra):
    return build_context(principal, source_ip="203.0.113.7", secure=True, now=NOW, region="us-east-1", extra=extra)


def allows(doc, action, resource="*", principal=None, ctx=None):
    """Whether one identity policy on its own allows the request."""
    principal = principal or user()
    ctx = context(principal) if ctx is None else ctx
    return evaluate_policy(doc, principal, action, resource, ctx).allowed
