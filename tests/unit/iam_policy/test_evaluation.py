"""AWS's evaluation logic: deny over allow over implicit deny, limits, resource policies, accounts."""

from __future__ import annotations

import pytest

from silvereye.services.iam.policy import (
    AuthzRequest,
    Decision,
    evaluate,
    evaluate_trust,
    parse_policy,
    principal_matches,
)
from .helpers import (
    ACCOUNT,
    OTHER,
    allow,
    anonymous,
    context,
    deny,
    policy,
    role_session,
    root,
    service,
    user,
)

BUCKET = "arn:aws:s3:::reports"
OBJECT = "arn:aws:s3:::reports/q1.csv"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def bucket_policy(*statements):
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, kind="resource")


def grant(principal, action="s3:GetObject", resource=OBJECT, effect="Allow", key="Principal", **extra):
    return {"Effect": effect, key: principal, "Action": action, "Resource": resource, **extra}


def decide(principal, action, resource="*", *, identity=(), **kw):
    kw.setdefault("context", context(principal))
    return evaluate(AuthzRequest(principal=principal, action=action, resource=resource, identity_policies=list(identity), **kw))


# -- one account, identity policies ---------------------------------------------------------


def test_no_policy_means_implicit_deny():
    assert decide(user(), "iam:ListUsers") == Decision(False, "implicit-deny", None)


def test_an_allow_grants_and_names_its_statement():
    doc = policy(allow("iam:List*", Sid="ReadIam"))
    assert decide(user(), "iam:ListUsers", identity=[doc]) == Decision(True, "allowed", "ReadIam")


def test_explicit_deny_wins_over_any_allow():
    admin = policy(allow("*"))
    no_delete = policy(deny("iam:Delete*", Sid="NoDelete"))
    assert decide(user(), "iam:DeleteUser", ALICE, identity=[admin, no_delete]) == Decision(False, "explicit-deny", "NoDelete")
    assert decide(user(), "iam:CreateUser", ALICE, identity=[admin, no_delete]).allowed


def test_user_and_group_policies_are_pooled():
    own = policy(allow("s3:GetObject"))
    group = policy(allow("s3:PutObject"))
    assert decide(user(), "s3:PutObject", OBJECT, identity=[own, group]).allowed
    assert not decide(user(), "s3:DeleteObject", OBJECT, identity=[own, group]).allowed


def test_a_deny_whose_condition_fails_does_not_deny():
    doc = policy(allow("*"), deny("*", Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert decide(user(), "s3:GetObject", OBJECT, identity=[doc]).allowed


# -- limits: permissions boundary and session policy ---------------------------------------


def test_permissions_boundary_intersects_with_identity_policies():
    boundary = policy(allow(["s3:*", "cloudwatch:*"]))
    identity = policy(allow(["s3:GetObject", "iam:CreateUser"]))
    alice = user()
    assert decide(alice, "s3:GetObject", OBJECT, identity=[identity], permissions_boundary=boundary).allowed
    # allowed by identity, not by the boundary
    assert not decide(alice, "iam:CreateUser", ALICE, identity=[identity], permissions_boundary=boundary).allowed
    # allowed by the boundary, not by identity
    assert not decide(alice, "cloudwatch:PutMetricData", identity=[identity], permissions_boundary=boundary).allowed


def test_deny_in_a_boundary_is_an_explicit_deny():
    boundary = policy(allow("*"), deny("s3:DeleteBucket", Sid="Keep"))
    outcome = decide(user(), "s3:DeleteBucket", BUCKET, identity=[policy(allow("*"))], permissions_boundary=boundary)
    assert outcome == Decision(False, "explicit-deny", "Keep")


def test_session_policy_intersects_with_the_roles_policies():
    role_policies = policy(allow(["s3:*", "ec2:*"]))
    session = policy(allow("s3:GetObject"), kind="session")
    who = role_session()
    assert decide(who, "s3:GetObject", OBJECT, identity=[role_policies], session_policy=session).allowed
    assert not decide(who, "s3:PutObject", OBJECT, identity=[role_policies], session_policy=session).allowed
    assert not decide(who, "iam:ListUsers", identity=[role_policies], session_policy=session).allowed


def test_session_policy_cannot_grant_more_than_the_role_has():
    session = policy(allow("*"), kind="session")
    assert not decide(role_session(), "iam:ListUsers", identity=[policy(allow("s3:*"))], session_policy=session).allowed


# -- resource policies in the same account -------------------------------------------------


def test_bucket_policy_naming_the_user_grants_without_an_identity_policy():
    rp = bucket_policy(grant({"AWS": ALICE}, Sid="AliceReads"))
    assert decide(user(), "s3:GetObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT) == Decision(
        True, "allowed", "AliceReads"
    )
    assert not decide(user("bob"), "s3:GetObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT).allowed


def test_bucket_policy_naming_the_user_is_not_limited_by_its_boundary():
    rp = bucket_policy(grant({"AWS": ALICE}))
    boundary = policy(allow("ec2:*"))
    assert decide(user(), "s3:GetObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT, permissions_boundary=boundary).allowed


def test_bucket_policy_naming_the_account_delegates_to_identity_policies():
    rp = bucket_policy(grant({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    assert not decide(user(), "s3:GetObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT).allowed
    assert decide(
        user(), "s3:GetObject", OBJECT, identity=[policy(allow("s3:GetObject"))], resource_policy=rp, resource_account=ACCOUNT
    ).allowed


def test_bucket_policy_naming_the_role_is_limited_by_the_session_policy():
    rp = bucket_policy(grant({"AWS": f"arn:aws:iam::{ACCOUNT}:role/app/deployer"}))
    who = role_session()
    assert decide(who, "s3:GetObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT).allowed
    narrow = policy(allow("ec2:*"), kind="session")
    assert not decide(who, "s3:GetObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT, session_policy=narrow).allowed


def test_bucket_policy_naming_the_session_is_not_limited_by_the_session_policy():
    rp = bucket_policy(grant({"AWS": who_arn()}))
    narrow = policy(allow("ec2:*"), kind="session")
    assert decide(role_session(), "s3:GetObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT, session_policy=narrow).allowed


def who_arn():
    return role_session().arn


def test_explicit_deny_in_a_bucket_policy_wins_over_identity_allow():
    rp = bucket_policy(grant("*", action="s3:*", resource=[BUCKET, f"{BUCKET}/*"], effect="Deny", Sid="Lock",
                             Condition={"Bool": {"aws:SecureTransport": "false"}}))  # fmt: skip
    admin = policy(allow("*"))
    alice = user()
    insecure = context(alice, **{"aws:SecureTransport": False})
    outcome = decide(alice, "s3:GetObject", OBJECT, identity=[admin], resource_policy=rp, resource_account=ACCOUNT, context=insecure)
    assert outcome == Decision(False, "explicit-deny", "Lock")
    assert decide(alice, "s3:GetObject", OBJECT, identity=[admin], resource_policy=rp, resource_account=ACCOUNT).allowed


def test_not_principal_deny_spares_only_the_listed_user_and_account():
    # AWS: with NotPrincipal and Deny, name the account too, or the user stays denied.
    spare_both = bucket_policy(
        grant({"AWS": [ALICE, f"arn:aws:iam::{ACCOUNT}:root"]}, action="s3:*", effect="Deny", key="NotPrincipal"),
        grant("*", action="s3:*"),
    )
    spare_user_only = bucket_policy(
        grant({"AWS": ALICE}, action="s3:*", effect="Deny", key="NotPrincipal"),
        grant("*", action="s3:*"),
    )
    kw = dict(resource_account=ACCOUNT)
    assert decide(user(), "s3:GetObject", OBJECT, resource_policy=spare_both, **kw).allowed
    assert decide(user("bob"), "s3:GetObject", OBJECT, resource_policy=spare_both, **kw).reason == "explicit-deny"
    assert decide(user(), "s3:GetObject", OBJECT, resource_policy=spare_user_only, **kw).reason == "explicit-deny"
    assert decide(anonymous, "s3:GetObject", OBJECT, resource_policy=spare_both, **kw).reason == "explicit-deny"


# -- root ------------------------------------------------------------------------------------


def test_root_has_full_rights_in_its_own_account():
    assert decide(root(), "iam:CreateUser", ALICE) == Decision(True, "allowed", None)
    assert decide(root(), "ec2:TerminateInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1").allowed


def test_root_is_stopped_by_an_explicit_deny_in_a_resource_policy():
    rp = bucket_policy(grant("*", action="s3:DeleteObject", effect="Deny"))
    assert decide(root(), "s3:DeleteObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT).reason == "explicit-deny"
    assert decide(root(), "s3:GetObject", OBJECT, resource_policy=rp, resource_account=ACCOUNT).allowed


def test_root_has_no_rights_in_another_account():
    assert not decide(root(), "iam:CreateUser", f"arn:aws:iam::{OTHER}:user/x").allowed
    assert not decide(root(), "s3:GetObject", OBJECT, resource_account=OTHER).allowed


def test_root_may_use_another_accounts_resource_its_policy_grants():
    rp = bucket_policy(grant({"AWS": ACCOUNT}))
    assert decide(root(), "s3:GetObject", OBJECT, resource_policy=rp, resource_account=OTHER).allowed


# -- cross-account --------------------------------------------------------------------------


def test_cross_account_needs_both_sides():
    rp = bucket_policy(grant({"AWS": ACCOUNT}))
    mine = policy(allow("s3:GetObject", "arn:aws:s3:::reports/*"))
    alice = user()
    kw = dict(resource_account=OTHER)
    assert decide(alice, "s3:GetObject", OBJECT, identity=[mine], resource_policy=rp, **kw).allowed
    assert not decide(alice, "s3:GetObject", OBJECT, resource_policy=rp, **kw).allowed  # their side only
    assert not decide(alice, "s3:GetObject", OBJECT, identity=[mine], **kw).allowed  # my side only
    other_rp = bucket_policy(grant({"AWS": "999988887777"}))
    assert not decide(alice, "s3:GetObject", OBJECT, identity=[mine], resource_policy=other_rp, **kw).allowed


def test_cross_account_resource_policy_naming_the_user_still_needs_identity_allow():
    rp = bucket_policy(grant({"AWS": ALICE}))
    assert not decide(user(), "s3:GetObject", OBJECT, resource_policy=rp, resource_account=OTHER).allowed


def test_identity_policy_alone_grants_nothing_in_another_account():
    assert not decide(user(), "iam:ListUsers", f"arn:aws:iam::{OTHER}:user/", identity=[policy(allow("*"))]).allowed


def test_resource_account_defaults_to_the_arns_account():
    admin = policy(allow("*"))
    assert decide(user(), "ec2:StopInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1", identity=[admin]).allowed
    assert not decide(user(), "ec2:StopInstances", f"arn:aws:ec2:us-east-1:{OTHER}:instance/i-1", identity=[admin]).allowed


def test_cross_account_boundary_still_applies():
    rp = bucket_policy(grant({"AWS": ACCOUNT}))
    boundary = policy(allow("ec2:*"))
    assert not decide(
        user(), "s3:GetObject", OBJECT, identity=[policy(allow("s3:*"))], resource_policy=rp, resource_account=OTHER,
        permissions_boundary=boundary,
    ).allowed  # fmt: skip


# -- anonymous -------------------------------------------------------------------------------


def test_anonymous_only_through_a_public_resource_policy():
    public = bucket_policy(grant("*", Sid="PublicRead"))
    also_public = bucket_policy(grant({"AWS": "*"}))
    account_only = bucket_policy(grant({"AWS": ACCOUNT}))
    assert decide(anonymous, "s3:GetObject", OBJECT, resource_policy=public, context={}) == Decision(True, "allowed", "PublicRead")
    assert decide(anonymous, "s3:GetObject", OBJECT, resource_policy=also_public, context={}).allowed
    assert not decide(anonymous, "s3:GetObject", OBJECT, resource_policy=account_only, context={}).allowed
    assert not decide(anonymous, "s3:GetObject", OBJECT, context={}).allowed
    assert not decide(anonymous, "s3:PutObject", OBJECT, resource_policy=public, context={}).allowed


def test_public_bucket_policy_grants_same_account_users_too():
    public = bucket_policy(grant("*"))
    assert decide(user("nobody-with-policies"), "s3:GetObject", OBJECT, resource_policy=public, resource_account=ACCOUNT).allowed


# -- trust policies and AssumeRole -----------------------------------------------------------

ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"


def trust(principal, **extra):
    return parse_policy(
        {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}},
        kind="trust",
    )


def test_service_trust_policy():
    doc = trust({"Service": "ec2.amazonaws.com"})
    assert evaluate_trust(doc, service("ec2.amazonaws.com")).allowed
    assert not evaluate_trust(doc, service("lambda.amazonaws.com")).allowed
    assert not evaluate_trust(doc, user()).allowed
    assert not evaluate_trust(doc, service("ec2.amazonaws.com"), action="sts:TagSession").allowed


def test_trust_policy_with_an_external_id_condition():
    doc = trust({"AWS": OTHER}, Condition={"StringEquals": {"sts:ExternalId": "Unique ID Assigned by Example Corp"}})
    partner = user("partner", account=OTHER)
    assert evaluate_trust(doc, partner, context={"sts:ExternalId": "Unique ID Assigned by Example Corp"}).allowed
    assert not evaluate_trust(doc, partner, context={"sts:ExternalId": "guess"}).allowed
    assert not evaluate_trust(doc, partner).allowed


def test_assume_role_in_the_same_account_trusting_the_user_needs_no_identity_policy():
    doc = trust({"AWS": ALICE})
    assert decide(user(), "sts:AssumeRole", ROLE, resource_policy=doc).allowed
    assert not decide(user("bob"), "sts:AssumeRole", ROLE, resource_policy=doc).allowed


def test_assume_role_trusting_the_account_needs_the_callers_permission():
    doc = trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
    may_assume = policy(allow("sts:AssumeRole", ROLE))
    assert not decide(user(), "sts:AssumeRole", ROLE, resource_policy=doc).allowed
    assert decide(user(), "sts:AssumeRole", ROLE, identity=[may_assume], resource_policy=doc).allowed


def test_assume_role_across_accounts_needs_both_sides():
    their_role = f"arn:aws:iam::{OTHER}:role/auditor"
    doc = trust({"AWS": ACCOUNT})
    may_assume = policy(allow("sts:AssumeRole", their_role))
    assert decide(user(), "sts:AssumeRole", their_role, identity=[may_assume], resource_policy=doc).allowed
    assert not decide(user(), "sts:AssumeRole", their_role, resource_policy=doc).allowed
    assert not decide(user(), "sts:AssumeRole", their_role, identity=[may_assume], resource_policy=trust({"AWS": "999988887777"})).allowed


def test_trust_policy_deny_wins():
    doc = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"},
                {"Effect": "Deny", "Principal": {"AWS": ALICE}, "Action": "sts:*", "Sid": "NotAlice"},
            ],
        },
        kind="trust",
    )
    assert evaluate_trust(doc, user()) == Decision(False, "explicit-deny", "NotAlice")
    assert evaluate_trust(doc, user("bob")).allowed


# -- principal blocks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block, who, expected",
    [
        ("*", user(), True),
        ("*", anonymous, True),
        ({"AWS": "*"}, anonymous, True),
        ({"AWS": ACCOUNT}, user(), True),
        ({"AWS": ACCOUNT}, role_session(), True),
        ({"AWS": ACCOUNT}, root(), True),
        ({"AWS": ACCOUNT}, anonymous, False),
        ({"AWS": OTHER}, user(), False),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, user(), True),
        ({"AWS": ALICE}, user(), True),
        ({"AWS": ALICE}, user("bob"), False),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/division/alice"}, user(path="/division/"), True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/deployer"}, role_session(), True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/ops/deployer"}, role_session(), True),  # paths are not in session ARNs
        ({"AWS": f"arn:aws:iam::{OTHER}:role/deployer"}, role_session(), False),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"}, role_session(), False),
        ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/s1"}, role_session(), True),
        ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/s1"}, role_session(session="s2"), False),
        ({"AWS": "AIDAALICEEXAMPLE0001"}, user(), True),
        ({"AWS": "AROAEXAMPLEROLE00001"}, role_session(), True),
        ({"Service": "ec2.amazonaws.com"}, service(), True),
        ({"Service": "ec2.amazonaws.com"}, user(), False),
        ({"AWS": ACCOUNT, "Service": "ec2.amazonaws.com"}, service(), True),
        ({"AWS": ALICE, "Service": "ec2.amazonaws.com"}, user(), True),
    ],
)
def test_principal_matches(block, who, expected):
    assert principal_matches(block, who) is expected
