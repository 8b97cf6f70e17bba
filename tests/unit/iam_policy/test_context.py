"""The global condition keys a request carries, per kind of principal."""

from __future__ import annotations

import datetime as dt

from silvereye.services.iam.policy import build_context
from .helpers import ACCOUNT, NOW, anonymous, role_session, root, user


def ctx(principal, **kw):
    kw.setdefault("source_ip", "198.51.100.4")
    kw.setdefault("secure", False)
    kw.setdefault("now", NOW)
    kw.setdefault("region", "us-east-1")
    return build_context(principal, **kw)


def test_iam_user_with_long_term_keys():
    c = ctx(user("alice", tags=[("team", "red")]))
    assert c["aws:SourceIp"] == "198.51.100.4"
    assert c["aws:SecureTransport"] is False
    assert c["aws:CurrentTime"] == NOW
    assert c["aws:EpochTime"] == int(NOW.timestamp())
    assert c["aws:RequestedRegion"] == "us-east-1"
    assert c["aws:username"] == "alice"
    assert c["aws:userid"] == "AIDAALICEEXAMPLE0001"
    assert c["aws:PrincipalArn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert c["aws:PrincipalAccount"] == ACCOUNT
    assert c["aws:PrincipalType"] == "User"
    assert c["aws:PrincipalTag/team"] == "red"
    assert "aws:MultiFactorAuthPresent" not in c  # absent for long-term keys
    assert "aws:TokenIssueTime" not in c


def test_role_session_has_no_username_and_its_role_as_principal_arn():
    issued = NOW - dt.timedelta(minutes=5)
    c = ctx(role_session(role="deployer", session="ci", mfa=False), token_issued_at=issued)
    assert "aws:username" not in c
    assert c["aws:userid"] == "AROAEXAMPLEROLE00001:ci"
    assert c["aws:PrincipalArn"] == f"arn:aws:iam::{ACCOUNT}:role/deployer"
    assert c["aws:PrincipalType"] == "AssumedRole"
    assert c["aws:MultiFactorAuthPresent"] is False
    assert c["aws:TokenIssueTime"] == issued


def test_root_and_anonymous():
    r = ctx(root())
    assert r["aws:PrincipalType"] == "Account" and r["aws:userid"] == ACCOUNT
    assert r["aws:PrincipalArn"] == f"arn:aws:iam::{ACCOUNT}:root"
    a = ctx(anonymous)
    assert a["aws:PrincipalType"] == "Anonymous"
    assert "aws:PrincipalArn" not in a and "aws:PrincipalAccount" not in a


def test_empty_region_is_left_out_and_extra_keys_override():
    c = ctx(user(), region="", extra={"s3:prefix": "home/", "aws:PrincipalArn": "arn:aws:iam::111122223333:role/p/x"})
    assert "aws:RequestedRegion" not in c
    assert c["s3:prefix"] == "home/"
    assert c["aws:PrincipalArn"] == "arn:aws:iam::111122223333:role/p/x"


def test_naive_time_is_taken_as_utc():
    c = ctx(user(), now=dt.datetime(2024, 5, 1, 12, 0, 0))
    assert c["aws:EpochTime"] == int(NOW.timestamp())
