"""STS: identities, session tokens and role sessions, with the trust rules AWS applies."""

import datetime as dt
import json

import pytest

from tests.unit.iam.harness import ALLOW_ALL, Harness, allow, fails, trust


def _soon(seconds: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)


def test_get_caller_identity_needs_no_policy(h):
    alice = h.user("alice")  # no policies at all
    me = h.call("GetCallerIdentity", as_=alice)
    assert me == {"UserId": alice.user_id, "Account": h.account_id, "Arn": f"arn:aws:iam::{h.account_id}:user/alice"}
    assert h.call("GetCallerIdentity")["Arn"] == f"arn:aws:iam::{h.account_id}:root"


def test_get_session_token(h):
    alice = h.user("alice")
    creds = h.call("GetSessionToken", as_=alice, DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    assert abs(creds["Expiration"] - _soon(900)) < dt.timedelta(seconds=5)
    cred = h.resolver.lookup(creds["AccessKeyId"])
    assert cred.session_token == creds["SessionToken"] and cred.expires_at == creds["Expiration"]
    assert cred.principal.arn == alice.arn and cred.principal.kind == "user"
    default = h.call("GetSessionToken", as_=alice)["Credentials"]["Expiration"]
    assert abs(default - _soon(43200)) < dt.timedelta(seconds=5)
    with fails("ValidationError", 400):
        h.call("GetSessionToken", as_=alice, DurationSeconds=600)
    root = h.call("GetSessionToken", DurationSeconds=7200)["Credentials"]  # root: one hour at most
    assert abs(root["Expiration"] - _soon(3600)) < dt.timedelta(seconds=5)
    assert h.resolver.lookup(root["AccessKeyId"]).principal.is_root


@pytest.fixture
def role(h):
    """A role 'deployer' trusted by user 'alice' by name and by the account (which delegates to policies)."""
    h.call("CreateUser", UserName="alice")
    h.call("CreateRole", RoleName="deployer", MaxSessionDuration=7200, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{h.account_id}:user/alice"},
             "Action": ["sts:AssumeRole", "sts:TagSession"]},
            {"Effect": "Allow", "Principal": {"AWS": h.account_id}, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"sts:ExternalId": "s3cr3t"}}},
        ]}))
    h.call("PutRolePolicy", RoleName="deployer", PolicyName="ec2", PolicyDocument=allow("ec2:*", "iam:ListRoles"))
    return f"arn:aws:iam::{h.account_id}:role/deployer"


def test_assume_role_named_in_the_trust_policy(h, role):
    key = h.call("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    alice = h.principal(key)  # no identity policy: the trust policy names her, which suffices in this account
    out = h.call("AssumeRole", as_=alice, RoleArn=role, RoleSessionName="deploy-1", DurationSeconds=7200)
    role_id = h.call("GetRole", RoleName="deployer")["Role"]["RoleId"]
    assert out["AssumedRoleUser"] == {"AssumedRoleId": f"{role_id}:deploy-1",
                                      "Arn": f"arn:aws:sts::{h.account_id}:assumed-role/deployer/deploy-1"}
    assert "PackedPolicySize" not in out
    session = h.principal(out["Credentials"]["AccessKeyId"])
    assert session.kind == "assumed-role" and session.role_id == role_id
    assert h.call("GetCallerIdentity", as_=session)["Arn"] == out["AssumedRoleUser"]["Arn"]
    # The session has the role's permissions, not alice's.
    h.access.authorize(h.ctx(session), "ec2:RunInstances", ["*"])
    with fails("AccessDenied", 403, f"User: arn:aws:sts::{h.account_id}:assumed-role/deployer/deploy-1"):
        h.call("ListUsers", as_=session)
    with fails("ValidationError", 400, "MaxSessionDuration"):
        h.call("AssumeRole", as_=alice, RoleArn=role, RoleSessionName="x1", DurationSeconds=7201)


def test_account_trust_delegates_to_identity_policies(h, role):
    bob = h.user("bob")
    with fails("AccessDenied", 403):  # trusted via the account, with the right ExternalId, but no policy of his own
        h.call("AssumeRole", as_=bob, RoleArn=role, RoleSessionName="bob", ExternalId="s3cr3t")
    h.call("PutUserPolicy", UserName="bob", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole", resource=role))
    with fails("AccessDenied", 403):  # the trust policy's condition still applies
        h.call("AssumeRole", as_=bob, RoleArn=role, RoleSessionName="bob", ExternalId="wrong")
    h.call("AssumeRole", as_=bob, RoleArn=role, RoleSessionName="bob", ExternalId="s3cr3t")


def test_who_may_not_assume(h, role, store):
    with fails("AccessDenied", 403, "Roles may not be assumed by root accounts."):
        h.call("AssumeRole", RoleArn=role, RoleSessionName="root")
    mallory = h.user("mallory", ALLOW_ALL)
    with fails("AccessDenied", 403):  # no ExternalId: the account statement does not apply
        h.call("AssumeRole", as_=mallory, RoleArn=role, RoleSessionName="m")
    with fails("AccessDenied", 403, "sts:AssumeRole on resource: arn:aws:iam::"):
        h.call("AssumeRole", as_=mallory, RoleArn=role.replace("deployer", "nothing"), RoleSessionName="m")
    other = Harness(store, "other")
    outsider = other.user("outsider", ALLOW_ALL)
    with fails("AccessDenied", 403):  # another account: its own allow is not enough without trust
        h.call("AssumeRole", as_=outsider, RoleArn=role, RoleSessionName="o", ExternalId="s3cr3t")


def test_cross_account_roles_need_both_sides(h, store):
    other = Harness(store, "other")
    other.call("CreateRole", RoleName="shared", AssumeRolePolicyDocument=trust(h.account_id))
    other.call("PutRolePolicy", RoleName="shared", PolicyName="p", PolicyDocument=allow("s3:*"))
    arn = f"arn:aws:iam::{other.account_id}:role/shared"
    alice = h.user("alice")
    with fails("AccessDenied", 403):
        h.call("AssumeRole", as_=alice, RoleArn=arn, RoleSessionName="x")
    h.call("PutUserPolicy", UserName="alice", PolicyName="a", PolicyDocument=allow("sts:AssumeRole", resource=arn))
    out = h.call("AssumeRole", as_=alice, RoleArn=arn, RoleSessionName="x")
    assert out["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{other.account_id}:assumed-role/shared/")
    session = h.principal(out["Credentials"]["AccessKeyId"])
    assert session.account_id == other.account_id


def test_session_policies_narrow_the_role(h, role):
    alice = h.principal(h.call("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"])
    out = h.call("AssumeRole", as_=alice, RoleArn=role, RoleSessionName="narrow",
                 Policy=allow("ec2:Describe*"), Tags=[{"Key": "team", "Value": "blue"}])
    assert 0 < out["PackedPolicySize"] <= 100
    session = h.principal(out["Credentials"]["AccessKeyId"])
    assert ("team", "blue") in session.tags
    h.access.authorize(h.ctx(session), "ec2:DescribeInstances", ["*"])
    with fails("AccessDenied", 403):  # the role allows it, the session policy does not
        h.access.authorize(h.ctx(session), "ec2:RunInstances", ["*"])
    with fails("AccessDenied", 403):  # the session policy allows it, the role does not
        h.access.authorize(h.ctx(session), "s3:GetObject", ["*"])
    managed = h.call("AssumeRole", as_=alice, RoleArn=role, RoleSessionName="managed",
                     PolicyArns=[{"arn": "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"}])
    session = h.principal(managed["Credentials"]["AccessKeyId"])
    h.access.authorize(h.ctx(session), "ec2:DescribeVolumes", ["*"])
    with fails("AccessDenied", 403):
        h.access.authorize(h.ctx(session), "ec2:TerminateInstances", ["*"])
    with fails("MalformedPolicyDocument", 400):
        h.call("AssumeRole", as_=alice, RoleArn=role, RoleSessionName="bad", Policy='{"Statement": 1}')


def test_role_chaining_is_limited_to_an_hour(h, role):
    alice = h.principal(h.call("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"])
    h.call("UpdateAssumeRolePolicy", RoleName="deployer", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{h.account_id}:user/alice",
                                                  f"arn:aws:iam::{h.account_id}:role/deployer"]},
         "Action": "sts:AssumeRole"}]}))
    first = h.principal(h.call("AssumeRole", as_=alice, RoleArn=role, RoleSessionName="one")["Credentials"]["AccessKeyId"])
    with fails("ValidationError", 400, "role chaining"):
        h.call("AssumeRole", as_=first, RoleArn=role, RoleSessionName="two", DurationSeconds=3601)
    h.call("AssumeRole", as_=first, RoleArn=role, RoleSessionName="two", DurationSeconds=3600)


def test_get_access_key_info(h):
    alice = h.user("alice", allow("sts:GetAccessKeyInfo"))
    assert h.call("GetAccessKeyInfo", as_=alice, AccessKeyId=alice.access_key_id) == {"Account": h.account_id}
    bob = h.user("bob")
    with fails("AccessDenied", 403):
        h.call("GetAccessKeyInfo", as_=bob, AccessKeyId=alice.access_key_id)
