"""Who may do what: the policies decide every IAM call, and changes apply at once."""

import json
import time

import sqlalchemy as sa

from silvereye.services.iam import schema
from tests.unit.iam.harness import ALLOW_ALL, Harness, allow, fails

READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


def test_no_policy_no_access_until_one_is_attached(h):
    alice = h.user("alice")
    with fails("AccessDenied", 403) as denied:
        h.call("ListUsers", as_=alice)
    assert denied.value.message == (
        f"User: arn:aws:iam::{h.account_id}:user/alice is not authorized to perform: iam:ListUsers on resource: "
        f"arn:aws:iam::{h.account_id}:user/ because no identity-based policy allows the iam:ListUsers action"
    )
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=READ_ONLY)
    assert [u["UserName"] for u in h.call("ListUsers", as_=alice)["Users"]] == ["alice"]
    with fails("AccessDenied", 403):  # read-only
        h.call("CreateUser", as_=alice, UserName="mallory")
    h.call("DetachUserPolicy", UserName="alice", PolicyArn=READ_ONLY)
    with fails("AccessDenied", 403):
        h.call("ListUsers", as_=alice)


def test_an_explicit_deny_wins(h):
    alice = h.user("alice", ALLOW_ALL, allow("iam:DeleteUser", effect="Deny"))
    h.call("CreateUser", as_=alice, UserName="bob")
    with fails("AccessDenied", 403, "with an explicit deny in an identity-based policy"):
        h.call("DeleteUser", as_=alice, UserName="bob")


def test_group_policies_apply_to_members(h):
    alice = h.user("alice")
    h.call("CreateGroup", GroupName="admins")
    h.call("PutGroupPolicy", GroupName="admins", PolicyName="all", PolicyDocument=ALLOW_ALL)
    with fails("AccessDenied", 403):
        h.call("ListGroups", as_=alice)
    h.call("AddUserToGroup", GroupName="admins", UserName="alice")
    assert h.call("ListGroups", as_=alice)["Groups"][0]["GroupName"] == "admins"


def test_a_permissions_boundary_caps_what_policies_grant(h):
    alice = h.user("alice", ALLOW_ALL)
    h.call("PutUserPermissionsBoundary", UserName="alice", PermissionsBoundary=READ_ONLY)
    h.call("ListUsers", as_=alice)
    with fails("AccessDenied", 403):
        h.call("CreateGroup", as_=alice, GroupName="g")


def test_resources_carry_the_entity_path(h):
    alice = h.user("alice", allow("iam:GetUser", resource="arn:aws:iam::*:user/staff/*"))
    h.call("CreateUser", UserName="bob", Path="/staff/")
    h.call("CreateUser", UserName="eve", Path="/contractors/")
    assert h.call("GetUser", as_=alice, UserName="bob")["User"]["UserName"] == "bob"
    with fails("AccessDenied", 403, f"on resource: arn:aws:iam::{h.account_id}:user/contractors/eve"):
        h.call("GetUser", as_=alice, UserName="eve")


def test_conditions_see_the_request(h):
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringEquals": {"aws:username": "alice"}}}]})
    alice = h.user("alice", doc)
    ctx = h.ctx(alice, source_ip="10.1.2.3")
    h.access.authorize(ctx, "iam:ListUsers", ["*"])
    with fails("AccessDenied", 403):
        h.access.authorize(h.ctx(alice, source_ip="192.168.1.9"), "iam:ListUsers", ["*"])


def test_accounts_are_isolated(h, store):
    other = Harness(store, "other")
    theirs = other.call("CreateUser", UserName="bob")["User"]["Arn"]
    admin = h.user("admin", ALLOW_ALL)
    with fails("AccessDenied", 403, "because no resource-based policy allows"):
        h.access.authorize(h.ctx(admin), "iam:GetUser", [theirs])
    with fails("AccessDenied", 403):  # not even the root of another account
        h.access.authorize(h.ctx(other.root), "iam:ListUsers", [f"arn:aws:iam::{h.account_id}:user/"])
    # Names are per account: each account may have its own bob.
    h.call("CreateUser", UserName="bob")
    assert h.call("GetUser", UserName="bob")["User"]["Arn"] != theirs


def test_root_may_do_anything_in_its_own_account(h):
    h.access.authorize(h.ctx(), "iam:DeleteUser", [f"arn:aws:iam::{h.account_id}:user/anyone"])
    h.access.authorize(h.ctx(), "ec2:RunInstances", ["*"])


def test_session_token_credentials_cannot_call_iam(h):
    alice = h.user("alice", ALLOW_ALL)
    creds = h.call("GetSessionToken", as_=alice)["Credentials"]
    session = h.principal(creds["AccessKeyId"])
    assert session.arn == alice.arn
    with fails("InvalidClientTokenId", 403):
        h.call("ListUsers", as_=session)
    with fails("AccessDenied", 403, "Cannot call GetSessionToken with session credentials"):
        h.call("GetSessionToken", as_=session)


def test_changes_made_elsewhere_are_seen_within_the_ttl(h):
    """Another frontend (or `silvereye account`) writes the database without telling this process."""
    alice = h.user("alice", ALLOW_ALL)
    h.access._sets.ttl = 1.0
    h.call("ListUsers", as_=alice)  # cached: alice may
    with h.store.write() as conn:  # no invalidation: as another process would
        conn.execute(sa.delete(schema.inline_policies).where(schema.inline_policies.c.account_id == h.account_id))
    h.call("ListUsers", as_=alice)  # still cached
    time.sleep(1.1)
    with fails("AccessDenied", 403):
        h.call("ListUsers", as_=alice)


def test_a_stored_policy_that_no_longer_parses_fails_closed(h):
    alice = h.user("alice", ALLOW_ALL)
    with h.store.write() as conn:
        conn.execute(sa.update(schema.inline_policies).values(document='{"Statement": "garbage"}'))
    h.access._sets.clear()
    with fails("AccessDenied", 403):
        h.call("ListUsers", as_=alice)
