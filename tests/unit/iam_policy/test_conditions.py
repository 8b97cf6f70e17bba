"""Condition operators, each way round, and AWS's rules for absent keys, IfExists and set qualifiers."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from silvereye.services.iam.policy import build_context, evaluate_policy
from .helpers import NOW, allow, policy, role_session, user


def holds(condition, ctx, principal=None, version="2012-10-17"):
    """Does a statement with this Condition block allow a request with this context?"""
    doc = policy(allow("s3:GetObject", Condition=condition), version=version)
    return evaluate_policy(doc, principal or user(), "s3:GetObject", "*", ctx).allowed


# (operator, policy value(s), request value, expected)
OPERATOR_CASES = [
    ("StringEquals", "prod", "prod", True),
    ("StringEquals", "prod", "Prod", False),
    ("StringEquals", ["dev", "prod"], "prod", True),
    ("StringNotEquals", "prod", "dev", True),
    ("StringNotEquals", "prod", "prod", False),
    ("StringNotEquals", ["dev", "prod"], "prod", False),  # NOR over the values
    ("StringNotEquals", ["dev", "prod"], "test", True),
    ("StringEqualsIgnoreCase", "PROD", "prod", True),
    ("StringEqualsIgnoreCase", "prod", "test", False),
    ("StringNotEqualsIgnoreCase", "PROD", "prod", False),
    ("StringNotEqualsIgnoreCase", "PROD", "test", True),
    ("StringLike", "home/*", "home/alice/x", True),
    ("StringLike", "home/?", "home/ab", False),
    ("StringLike", "home/*", "Home/alice", False),
    ("StringLike", ["", "home/"], "", True),
    ("StringNotLike", "home/*", "etc/passwd", True),
    ("StringNotLike", ["etc/*", "home/*"], "home/x", False),
    ("StringEquals", "*", "anything", False),  # no wildcards in StringEquals
    ("StringEquals", "*", "*", True),
    ("NumericEquals", "10", 10, True),
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", "10", 11, False),
    ("NumericNotEquals", "10", 11, True),
    ("NumericNotEquals", "10", 10, False),
    ("NumericLessThan", "10", 9, True),
    ("NumericLessThan", "10", 10, False),
    ("NumericLessThanEquals", "10", 10, True),
    ("NumericLessThanEquals", "10", 11, False),
    ("NumericGreaterThan", "10", 11, True),
    ("NumericGreaterThan", "10", 10, False),
    ("NumericGreaterThanEquals", "10", 10, True),
    ("NumericGreaterThanEquals", "10.5", 10, False),
    ("NumericEquals", "10", "ten", False),
    ("DateEquals", "2024-05-01T12:00:00Z", NOW, True),
    ("DateEquals", "2024-05-01T12:00:01Z", NOW, False),
    ("DateNotEquals", "2024-05-01T12:00:01Z", NOW, True),
    ("DateNotEquals", "2024-05-01T12:00:00Z", NOW, False),
    ("DateLessThan", "2024-05-01T12:00:01Z", NOW, True),
    ("DateLessThan", "2024-05-01T12:00:00Z", NOW, False),
    ("DateLessThanEquals", "2024-05-01T12:00:00Z", NOW, True),
    ("DateLessThanEquals", "2024-05-01", NOW, False),
    ("DateGreaterThan", "2024-05-01", NOW, True),
    ("DateGreaterThan", "2024-05-02", NOW, False),
    ("DateGreaterThanEquals", "2024-05-01T14:00:00+02:00", NOW, True),  # same instant
    ("DateGreaterThanEquals", "2024-05-01T13:00:00+00:00", NOW, False),
    ("DateLessThan", str(int(NOW.timestamp()) + 1), NOW, True),  # epoch seconds in the policy
    ("DateEquals", "2024-05-01T12:00:00Z", int(NOW.timestamp()), True),  # epoch in the request
    ("DateEquals", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z", True),
    ("Bool", "true", True, True),
    ("Bool", "true", False, False),
    ("Bool", "false", False, True),
    ("Bool", "TRUE", "true", True),
    ("Bool", True, True, True),  # a JSON boolean in the policy
    ("BinaryEquals", base64.b64encode(b"\x00\x01secret").decode(), b"\x00\x01secret", True),
    ("BinaryEquals", base64.b64encode(b"\x00\x01secret").decode(), base64.b64encode(b"other").decode(), False),
    ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "203.0.113.0/24", "198.51.100.7", False),
    ("IpAddress", "203.0.113.7", "203.0.113.7", True),
    ("IpAddress", ["192.0.2.0/24", "203.0.113.0/24"], "203.0.113.7", True),
    ("IpAddress", "2001:db8:1234::/48", "2001:db8:1234:ffff::1", True),
    ("IpAddress", "2001:db8:1234::/48", "2001:db8:9999::1", False),
    ("IpAddress", "203.0.113.0/24", "2001:db8::1", False),
    ("IpAddress", "203.0.113.0/24", "not-an-ip", False),
    ("IpAddress", "203.0.113.0/24", "::ffff:203.0.113.7", True),  # IPv4-mapped, from a dual-stack listener
    ("NotIpAddress", "203.0.113.0/24", "198.51.100.7", True),
    ("NotIpAddress", "203.0.113.0/24", "203.0.113.7", False),
    ("NotIpAddress", ["192.0.2.0/24", "203.0.113.0/24"], "203.0.113.7", False),
    ("ArnEquals", "arn:aws:sns:us-east-1:111122223333:topic", "arn:aws:sns:us-east-1:111122223333:topic", True),
    ("ArnEquals", "arn:aws:sns:*:111122223333:topic", "arn:aws:sns:eu-west-1:111122223333:topic", True),
    ("ArnLike", "arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", True),
    ("ArnLike", "arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:111122223333:volume/v-1", False),
    ("ArnLike", "arn:aws:ec2:*:111122223333:*", "arn:aws:ec2:us-east-1:x:111122223333:instance/i-1", False),
    ("ArnNotEquals", "arn:aws:sns:us-east-1:111122223333:topic", "arn:aws:sns:us-east-1:111122223333:other", True),
    ("ArnNotLike", "arn:aws:iam::*:role/admin-*", "arn:aws:iam::111122223333:role/admin-x", False),
    ("ArnNotLike", "arn:aws:iam::*:role/admin-*", "arn:aws:iam::111122223333:role/dev", True),
]


@pytest.mark.parametrize("op, policy_value, request_value, expected", OPERATOR_CASES)
def test_operator(op, policy_value, request_value, expected):
    assert holds({op: {"test:key": policy_value}}, {"test:key": request_value}) is expected


POSITIVE_OPS = ["StringEquals", "StringEqualsIgnoreCase", "StringLike", "NumericEquals", "NumericLessThan",
                "DateEquals", "DateGreaterThan", "Bool", "BinaryEquals", "IpAddress", "ArnEquals", "ArnLike"]  # fmt: skip
NEGATED_OPS = ["StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals",
               "DateNotEquals", "NotIpAddress", "ArnNotEquals", "ArnNotLike"]  # fmt: skip
VALUE_FOR = {"Numeric": "1", "Date": "2020-01-01T00:00:00Z", "Bool": "true", "Binary": "QUJD",
             "IpAddress": "10.0.0.0/8", "NotIpAddress": "10.0.0.0/8", "Arn": "arn:aws:s3:::b", "String": "x"}  # fmt: skip


def _value(op):
    return next(v for prefix, v in VALUE_FOR.items() if op.startswith(prefix))


@pytest.mark.parametrize("op", POSITIVE_OPS)
def test_absent_key_fails_a_positive_operator(op):
    assert holds({op: {"test:absent": _value(op)}}, {}) is False


@pytest.mark.parametrize("op", NEGATED_OPS)
def test_absent_key_satisfies_a_negated_operator(op):
    assert holds({op: {"test:absent": _value(op)}}, {}) is True


@pytest.mark.parametrize("op", POSITIVE_OPS + NEGATED_OPS)
def test_if_exists_holds_when_the_key_is_absent(op):
    assert holds({op + "IfExists": {"test:absent": _value(op)}}, {}) is True


def test_if_exists_applies_the_operator_when_the_key_is_present():
    cond = {"StringEqualsIfExists": {"ec2:InstanceType": ["t2.micro", "t2.small"]}}
    assert holds(cond, {"ec2:InstanceType": "t2.micro"})
    assert not holds(cond, {"ec2:InstanceType": "m5.large"})
    assert holds(cond, {})


def test_null_checks_presence():
    assert holds({"Null": {"aws:TokenIssueTime": "true"}}, {})
    assert not holds({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": NOW})
    assert holds({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": NOW})
    assert not holds({"Null": {"aws:TokenIssueTime": "false"}}, {})
    assert holds({"Null": {"aws:TagKeys": "true"}}, {"aws:TagKeys": []})  # an empty set counts as absent


def test_condition_keys_are_case_insensitive():
    assert holds({"IpAddress": {"AWS:SOURCEIP": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"})


def test_several_keys_and_operators_are_anded():
    cond = {
        "StringEquals": {"aws:PrincipalTag/department": "data", "aws:RequestedRegion": "us-east-1"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    base = {"aws:PrincipalTag/department": "data", "aws:RequestedRegion": "us-east-1", "aws:SecureTransport": True}
    assert holds(cond, base)
    assert not holds(cond, {**base, "aws:RequestedRegion": "eu-west-1"})
    assert not holds(cond, {**base, "aws:SecureTransport": False})
    assert not holds(cond, {k: v for k, v in base.items() if k != "aws:PrincipalTag/department"})


# -- set qualifiers (AWS docs: "Set operators for multivalued context keys")

FOR_ALL = {"ForAllValues:StringLike": {"dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]}}
FOR_ANY = {"ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}}


@pytest.mark.parametrize(
    "condition, request_values, expected",
    [
        (FOR_ALL, ["PostDateTime", "Message"], True),
        (FOR_ALL, ["PostDateTime", "UserName"], False),
        (FOR_ALL, [], True),  # an empty set passes ForAllValues
        (FOR_ALL, None, True),  # and so does an absent key
        (FOR_ANY, ["UserName", "Message", "PostDateTime"], True),
        (FOR_ANY, ["UserName"], False),
        (FOR_ANY, [], False),
        (FOR_ANY, None, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, ["environment"], True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}, ["owner"], False),
        # negated with a qualifier: each request value must match none of the policy values
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["admin", "root"]}}, ["env", "owner"], True),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["admin", "root"]}}, ["env", "admin"], False),
        ({"ForAllValues:StringNotEquals": {"aws:TagKeys": ["admin"]}}, None, True),
        ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["admin", "root"]}}, ["admin", "env"], True),
        ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["admin", "root"]}}, ["admin", "root"], False),
        ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["admin"]}}, None, False),
        ({"ForAllValues:StringEqualsIfExists": {"aws:TagKeys": ["a"]}}, None, True),
        ({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["a"]}}, None, True),
        ({"ForAnyValue:NumericGreaterThan": {"test:sizes": "10"}}, [1, 20], True),
        ({"ForAllValues:NumericGreaterThan": {"test:sizes": "10"}}, [1, 20], False),
        ({"ForAnyValue:IpAddress": {"test:ips": "10.0.0.0/8"}}, ["192.0.2.1", "10.1.1.1"], True),
    ],
)
def test_set_qualifiers(condition, request_values, expected):
    key = next(iter(next(iter(condition.values()))))
    ctx = {} if request_values is None else {key: request_values}
    assert holds(condition, ctx) is expected


def test_unqualified_operator_on_a_multivalued_key_matches_any_value():
    assert holds({"StringEquals": {"aws:TagKeys": "env"}}, {"aws:TagKeys": ["owner", "env"]})
    assert not holds({"StringNotEquals": {"aws:TagKeys": "env"}}, {"aws:TagKeys": ["owner", "env"]})


# -- policy variables in condition values


def test_variable_in_string_condition():
    # AWS's example: "s3:prefix": ["", "home/", "home/${aws:username}/*"]
    cond = {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}
    alice = user("alice")
    assert holds(cond, {"s3:prefix": "home/alice/docs", "aws:username": "alice"}, alice)
    assert holds(cond, {"s3:prefix": "", "aws:username": "alice"}, alice)
    assert not holds(cond, {"s3:prefix": "home/bob/docs", "aws:username": "alice"}, alice)


def test_variable_matching_principal_tag_to_resource_tag():
    cond = {"StringEquals": {"aws:ResourceTag/owner": "${aws:PrincipalTag/team}"}}
    assert holds(cond, {"aws:ResourceTag/owner": "red", "aws:PrincipalTag/team": "red"})
    assert not holds(cond, {"aws:ResourceTag/owner": "blue", "aws:PrincipalTag/team": "red"})


def test_unresolvable_variable_in_a_condition_makes_the_statement_not_apply():
    cond = {"StringNotEquals": {"aws:ResourceTag/owner": "${aws:PrincipalTag/team}"}}
    assert not holds(cond, {"aws:ResourceTag/owner": "blue"})
    assert holds({"StringEquals": {"test:k": "${aws:username, 'nobody'}"}}, {"test:k": "nobody"})
    assert not holds({"StringLike": {"test:k": "x-${aws:username}"}}, {"test:k": "x-"}, role_session())


def test_variables_in_arn_conditions():
    cond = {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:${aws:PrincipalAccount}:*"}}
    assert holds(cond, {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:t", "aws:PrincipalAccount": "111122223333"})
    assert not holds(cond, {"aws:SourceArn": "arn:aws:sns:us-east-1:999988887777:t", "aws:PrincipalAccount": "111122223333"})


def test_version_2008_keeps_dollar_braces_in_conditions():
    cond = {"StringEquals": {"test:k": "${aws:username}"}}
    assert holds(cond, {"test:k": "${aws:username}", "aws:username": "alice"}, version="2008-10-17")
    assert not holds(cond, {"test:k": "alice", "aws:username": "alice"}, version="2008-10-17")


# -- the global keys build_context fills in, used by the examples in the AWS docs


def test_source_ip_from_the_aws_docs_deny_outside_corporate_ranges():
    doc = policy(
        allow("*"),
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}},
        },
    )
    alice = user()
    inside = build_context(alice, source_ip="203.0.113.9", secure=True, now=NOW, region="us-east-1")
    outside = build_context(alice, source_ip="198.51.100.1", secure=True, now=NOW, region="us-east-1")
    assert evaluate_policy(doc, alice, "ec2:RunInstances", "*", inside).allowed
    outcome = evaluate_policy(doc, alice, "ec2:RunInstances", "*", outside)
    assert not outcome.allowed and outcome.reason == "explicit-deny"


def test_current_time_window():
    cond = {
        "DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"},
        "DateLessThan": {"aws:CurrentTime": "2024-06-30T23:59:59Z"},
    }
    alice = user()
    during = build_context(alice, source_ip="10.0.0.1", secure=True, now=NOW, region="")
    after = build_context(alice, source_ip="10.0.0.1", secure=True, now=NOW + dt.timedelta(days=90), region="")
    assert holds(cond, during) and not holds(cond, after)
    assert holds({"NumericLessThan": {"aws:EpochTime": str(int(NOW.timestamp()) + 60)}}, during)


def test_secure_transport_and_mfa():
    alice = user()
    plain = build_context(alice, source_ip="10.0.0.1", secure=False, now=NOW, region="")
    assert not holds({"Bool": {"aws:SecureTransport": "true"}}, plain)
    # aws:MultiFactorAuthPresent is absent for long-term keys: BoolIfExists false holds.
    assert holds({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, plain)
    assert not holds({"Bool": {"aws:MultiFactorAuthPresent": "false"}}, plain)
    session = role_session(mfa=True)
    with_mfa = build_context(session, source_ip="10.0.0.1", secure=True, now=NOW, region="")
    assert holds({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, with_mfa, session)


def test_principal_tag_condition_from_the_aws_docs():
    doc = policy(
        allow("iam:*AccessKey*", "arn:aws:iam::111122223333:user/*",
              Condition={"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}})
    )  # fmt: skip
    admin = user("ann", tags=[("job-category", "iamuser-admin")])
    other = user("ben", tags=[("job-category", "dev")])
    for who, expected in ((admin, True), (other, False), (user("cid"), False)):
        ctx = build_context(who, source_ip="10.0.0.1", secure=True, now=NOW, region="")
        assert evaluate_policy(doc, who, "iam:CreateAccessKey", "arn:aws:iam::111122223333:user/x", ctx).allowed is expected
