"""Action and Resource matching: wildcards, ARN segments, NotAction/NotResource, policy variables."""

from __future__ import annotations

import pytest

from .helpers import ACCOUNT, allow, allows, context, policy, role_session, user

A = ACCOUNT


@pytest.mark.parametrize(
    "pattern, action, expected",
    [
        ("iam:CreateUser", "iam:CreateUser", True),
        ("iam:CreateUser", "iam:createuser", True),  # actions are case-insensitive
        ("IAM:createUSER", "iam:CreateUser", True),
        ("iam:CreateUser", "iam:CreateUsers", False),
        ("iam:Create*", "iam:CreateAccessKey", True),
        ("iam:Create*", "iam:DeleteUser", False),
        ("iam:*AccessKey*", "iam:UpdateAccessKey", True),
        ("iam:*AccessKey*", "iam:ListAccessKeys", True),
        ("iam:List?sers", "iam:ListUsers", True),
        ("iam:List?sers", "iam:ListUUsers", False),
        ("s3:*Object", "s3:GetObject", True),
        ("s3:*Object", "s3:GetObjectAcl", False),
        ("*", "ec2:RunInstances", True),
        ("ec2:*", "ec2:RunInstances", True),
        ("ec2:*", "iam:ListUsers", False),
        ("*:Describe*", "ec2:DescribeInstances", True),
        ("iam:Get.User", "iam:GetXUser", False),  # regex characters are literal
    ],
)
def test_action_patterns(pattern, action, expected):
    assert allows(policy(allow(pattern)), action) is expected


def test_a_list_of_actions_is_ored():
    doc = policy(allow(["iam:GetUser", "iam:List*", "s3:GetObject"]))
    assert allows(doc, "iam:ListGroups") and allows(doc, "s3:GetObject")
    assert not allows(doc, "iam:DeleteUser")


@pytest.mark.parametrize(
    "pattern, resource, expected",
    [
        ("*", "arn:aws:iam::111122223333:user/alice", True),
        ("*", "*", True),
        ("arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/alice", True),
        ("arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/Alice", False),  # case-sensitive
        ("arn:aws:iam::111122223333:user/*", "arn:aws:iam::111122223333:user/division/alice", True),
        ("arn:aws:iam::*:user/*", "arn:aws:iam::444455556666:user/bob", True),
        ("arn:aws:iam::111122223333:user/*", "arn:aws:iam::444455556666:user/bob", False),
        ("arn:aws:iam::111122223333:user/*", "arn:aws:iam::111122223333:group/admins", False),
        ("arn:aws:iam::111122223333:user/a?ice", "arn:aws:iam::111122223333:user/alice", True),
        ("arn:aws:iam::111122223333:*", "arn:aws:iam::111122223333:role/app/deployer", True),
        # a wildcard stays inside its segment before the resource part
        ("arn:aws:ec2:*:111122223333:instance/*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", True),
        ("arn:aws:ec2:*:111122223333:instance/*", "arn:aws:ec2:us-east-1:x:111122223333:instance/i-1", False),
        ("arn:aws:ec2:us-*:*:instance/*", "arn:aws:ec2:eu-west-1:111122223333:instance/i-1", False),
        ("arn:aws:ec2:*:*:*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", True),
        ("arn:aws:ec2:*:*:*", "arn:aws:s3:::bucket", False),
        # an empty region/account segment is matched by *
        ("arn:aws:ec2:*:*:image/ami-1", "arn:aws:ec2:::image/ami-1", True),
        # the resource part may hold ':' and '/', and * spans them
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c/d.txt", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
        ("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket-logs/x", True),
        ("arn:aws:logs:us-east-1:111122223333:log-group:app:*",
         "arn:aws:logs:us-east-1:111122223333:log-group:app:log-stream:web", True),
        ("arn:aws:logs:us-east-1:111122223333:log-group:app:*",
         "arn:aws:logs:us-east-1:111122223333:log-group:other:log-stream:web", False),
        # a short pattern's last wildcard covers the rest
        ("arn:aws:ec2:*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", True),
        ("arn:aws:s3:::bucket/[a].txt", "arn:aws:s3:::bucket/[a].txt", True),
        ("arn:aws:s3:::bucket/(x)+", "arn:aws:s3:::bucket/xx", False),
    ],
)  # fmt: skip
def test_resource_arn_matching(pattern, resource, expected):
    assert allows(policy(allow("s3:GetObject", pattern)), "s3:GetObject", resource) is expected


def test_not_action_allows_everything_else():
    # AWS's example: everything except IAM.
    doc = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert allows(doc, "ec2:RunInstances")
    assert not allows(doc, "iam:CreateUser")


def test_not_action_with_deny_denies_everything_else():
    doc = policy(
        allow("*"),
        {"Effect": "Deny", "NotAction": ["iam:ChangePassword", "iam:GetUser"], "Resource": "*"},
    )
    assert allows(doc, "iam:GetUser")
    assert not allows(doc, "s3:ListAllMyBuckets")


def test_not_resource_deny_from_the_aws_docs():
    # Deny everything in S3 except the HR payroll objects... "NotResource" example.
    doc = policy(
        allow("s3:*"),
        {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]},
    )
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan.csv")
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::HRBucket/Other/jan.csv")
    assert not allows(doc, "s3:GetObject", "*")


def test_not_action_and_not_resource_together():
    doc = policy({"Effect": "Allow", "NotAction": "s3:DeleteObject", "NotResource": "arn:aws:s3:::secret/*"})
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::public/a")
    assert not allows(doc, "s3:DeleteObject", "arn:aws:s3:::public/a")
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::secret/a")


# -- policy variables -------------------------------------------------------------------


def test_username_variable_gives_each_user_their_own_home():
    # AWS's example: "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"
    doc = policy(allow("s3:*", "arn:aws:s3:::bucket/home/${aws:username}/*"))
    alice = user("alice")
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::bucket/home/alice/notes.txt", alice)
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::bucket/home/bob/notes.txt", alice)
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::bucket/home/bob/notes.txt", user("bob"))


def test_own_iam_user_from_the_aws_docs():
    doc = policy(allow(["iam:ChangePassword", "iam:GetUser"], "arn:aws:iam::*:user/${aws:username}"))
    assert allows(doc, "iam:GetUser", f"arn:aws:iam::{A}:user/alice", user("alice"))
    assert not allows(doc, "iam:GetUser", f"arn:aws:iam::{A}:user/bob", user("alice"))


def test_userid_variable_for_roles_is_role_id_and_session():
    doc = policy(allow("s3:*", "arn:aws:s3:::bucket/home/${aws:userid}/*"))
    session = role_session(session="build-42")
    assert allows(doc, "s3:PutObject", "arn:aws:s3:::bucket/home/AROAEXAMPLEROLE00001:build-42/x", session)


def test_unknown_variable_makes_the_entry_not_match():
    # Roles have no aws:username: the statement does not match for them...
    doc = policy(allow("s3:*", "arn:aws:s3:::bucket/home/${aws:username}/*"))
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::bucket/home/deployer/x", role_session())
    # ...but other entries of the same Resource still do.
    doc = policy(allow("s3:*", ["arn:aws:s3:::bucket/home/${aws:username}/*", "arn:aws:s3:::bucket/public/*"]))
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::bucket/public/x", role_session())


def test_unknown_variable_in_not_resource_makes_the_statement_not_apply():
    doc = policy(allow("*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::home/${aws:username}/*"})
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::home/bob/x", user("alice"))
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::home/alice/x", user("alice"))
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::home/bob/x", role_session())  # the Deny does not apply


def test_principal_tag_variable():
    doc = policy(allow("s3:*", "arn:aws:s3:::projects/${aws:PrincipalTag/project}/*"))
    tagged = user("carol", tags=[("project", "apollo")])
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::projects/apollo/plan", tagged)
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::projects/gemini/plan", tagged)
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::projects/apollo/plan", user("dave"))


def test_variable_default_value():
    # ${aws:PrincipalTag/team, 'company-wide'} from the AWS docs
    doc = policy(allow("s3:*", "arn:aws:s3:::shared/${aws:PrincipalTag/team, 'company-wide'}/*"))
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::shared/company-wide/x", user("erin"))
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::shared/red/x", user("erin", tags=[("team", "red")]))
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::shared/company-wide/x", user("erin", tags=[("team", "red")]))
    quoted = policy(allow("s3:*", "arn:aws:s3:::b/${aws:PrincipalTag/x, 'it''s'}"))
    assert allows(quoted, "s3:GetObject", "arn:aws:s3:::b/it's")


def test_variable_names_are_case_insensitive():
    doc = policy(allow("s3:*", "arn:aws:s3:::b/${AWS:UserName}"))
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::b/alice", user("alice"))


def test_escaped_special_characters_are_literal():
    doc = policy(allow("s3:*", "arn:aws:s3:::b/${*}${?}${$}"))
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::b/*?$")
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::b/abc")


def test_substituted_values_are_literal_not_wildcards():
    doc = policy(allow("s3:*", "arn:aws:s3:::b/${aws:PrincipalTag/dir}/x"))
    starry = user("frank", tags=[("dir", "a*")])
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::b/a*/x", starry)
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::b/abc/x", starry)


def test_version_2008_treats_variables_as_text():
    doc = policy(allow("s3:*", "arn:aws:s3:::b/${aws:username}"), version="2008-10-17")
    assert not allows(doc, "s3:GetObject", "arn:aws:s3:::b/alice", user("alice"))
    assert allows(doc, "s3:GetObject", "arn:aws:s3:::b/${aws:username}", user("alice"))
    unversioned = policy(allow("s3:*", "arn:aws:s3:::b/${aws:username}"), version=None)
    assert not allows(unversioned, "s3:GetObject", "arn:aws:s3:::b/alice", user("alice"))


def test_variables_in_the_account_segment():
    doc = policy(allow("iam:*", "arn:aws:iam::${aws:PrincipalAccount}:user/*"))
    assert allows(doc, "iam:GetUser", f"arn:aws:iam::{A}:user/x")
    assert not allows(doc, "iam:GetUser", "arn:aws:iam::444455556666:user/x")


def test_variables_resolve_from_extra_context_keys():
    doc = policy(allow("ec2:*", "arn:aws:ec2:${aws:RequestedRegion}:*:instance/*"))
    alice = user()
    ctx = context(alice)
    assert allows(doc, "ec2:StopInstances", f"arn:aws:ec2:us-east-1:{A}:instance/i-1", alice, ctx)
    assert not allows(doc, "ec2:StopInstances", f"arn:aws:ec2:eu-west-1:{A}:instance/i-1", alice, ctx)
