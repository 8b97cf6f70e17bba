"""Which policy documents IAM refuses, with the exact MalformedPolicyDocument message it gives.

The identity-policy cases and their messages are the ones AWS answered for
CreatePolicy (recorded in moto's test suite, tests/test_iam/test_iam_policies.py);
trust-policy messages are those CreateRole gives.
"""

from __future__ import annotations

import json

import pytest

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.iam.policy import POLICY_SIZE_LIMITS, MalformedPolicyDocument, parse_policy, policy_size

V = "2012-10-17"
S3 = "arn:aws:s3:::example_bucket"


def st(**fields):
    return {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": S3, **fields}


def doc(*statements, version=V, **top):
    d = {"Statement": statements[0] if len(statements) == 1 else list(statements), **top}
    if version:
        d["Version"] = version
    return d


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


IDENTITY_REFUSED = [
    # -- syntax
    ("This is not a json document", "Syntax errors in policy."),
    (doc(st(), version="2013-10-17"), "Syntax errors in policy."),
    ({"Version": V}, "Syntax errors in policy."),
    ({"Version": V, "Statement": []}, "Syntax errors in policy."),
    ({"Version": V, "Statement": ["afd"]}, "Syntax errors in policy."),
    (doc(st(), **{"Extra field": "value"}), "Syntax errors in policy."),
    (doc(st(**{"Extra field": "value"})), "Syntax errors in policy."),
    (doc(st(), Id=["cd3a324d2343d942772346"]), "Syntax errors in policy."),
    (doc(st(), Id={}), "Syntax errors in policy."),
    (doc(st(Effect="invalid")), "Syntax errors in policy."),
    (doc(without(st(), "Effect")), "Syntax errors in policy."),
    (doc(st(Resource={"a": S3})), "Syntax errors in policy."),
    (doc(st(Effect="Deny", Resource=["adfdf", {}])), "Syntax errors in policy."),
    (doc(st(NotAction="s3:ListBucket", NotResource=[])), "Syntax errors in policy."),
    (doc(st(Action=[[]])), "Syntax errors in policy."),
    (doc(st(Action={})), "Syntax errors in policy."),
    (doc(st(NotAction="s3:ListBucket")), "Syntax errors in policy."),  # Action and NotAction
    (doc(st(NotResource="*")), "Syntax errors in policy."),  # Resource and NotResource
    (doc(st(Condition=[])), "Syntax errors in policy."),
    (doc(st(Condition="a")), "Syntax errors in policy."),
    (doc(st(Condition={"a": "b"})), "Syntax errors in policy."),
    (doc(st(Condition={"DateGreaterThan": "b"})), "Syntax errors in policy."),
    (doc(st(Condition={"DateGreaterThan": []})), "Syntax errors in policy."),
    (doc(st(Condition={"DateGreaterThan": {"a": {}}})), "Syntax errors in policy."),
    (doc(st(Condition={"x": {"a": "1"}})), "Syntax errors in policy."),  # unknown operator
    (doc(st(Condition={"ForAnyValue::StringEqualsIfExists": {"a": "asf"}})), "Syntax errors in policy."),
    (doc(st(Condition={"StringEquals": {"a": None}})), "Syntax errors in policy."),
    (doc(st(Sid={})), "Syntax errors in policy."),
    (doc(st(Sid=[])), "Syntax errors in policy."),
    # -- version (managed policies)
    (without(doc(st()), "Version"), "Policy document must be version 2012-10-17 or greater."),
    (doc(st(), version="2008-10-17"), "Policy document must be version 2012-10-17 or greater."),
    (doc(st(Effect="denY"), version=None), "Policy document must be version 2012-10-17 or greater."),
    # -- legacy parser
    (doc(st(Effect="denY")), "The policy failed legacy parsing"),
    (doc({"Effect": "allow", "Resource": "arn:aws:s3:us-east-1::example_bucket"}), "The policy failed legacy parsing"),
    (doc(st(Resource="arn:aws:s3::example_bucket")), "The policy failed legacy parsing"),
    (doc(without(st(NotAction="s3:ListBucket", Resource="arn:aws::::example_bucket"), "Action")),
     "The policy failed legacy parsing"),
    (doc(st(Resource="arn:aws::fdsasf")), "The policy failed legacy parsing"),
    (doc(st(Condition={"DateGreaterThan": {"a": "sdfdsf"}})), "The policy failed legacy parsing"),
    (doc(st(Condition={"DateLessThanEquals": {"a": "234-13"}})), "The policy failed legacy parsing"),
    (doc(st(Condition={"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+1"}})),
     "The policy failed legacy parsing"),
    (doc(st(Condition={"DateLessThan": {"a": "9223372036854775808"}})), "The policy failed legacy parsing"),
    (doc(st(Resource="arn:error:s3:::example_bucket", Condition={"DateGreaterThan": {"a": "x"}})),
     "The policy failed legacy parsing"),
    # -- statement ids
    (doc(st(Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}), "Statement IDs (SID) in a single policy must be unique."),
    (doc(st(Sid="Allow-Read")),
     "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"),
    # -- principal
    (doc(st(Principal={"AWS": "*"})), "Policy document should not specify a principal."),
    (doc(st(NotPrincipal={"AWS": "111122223333"})), "Policy document should not specify a principal."),
    # -- actions
    (doc({"Effect": "Allow", "Resource": S3}), "Policy statement must contain actions."),
    (doc({"Effect": "Allow"}), "Policy statement must contain actions."),
    (doc(st(Action=[])), "Policy statement must contain actions."),
    (doc({"Effect": "Deny"}, st()), "Policy statement must contain actions."),
    (doc(st(Action="invalid")), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc({"Effect": "Allow", "Action": "invalid"}),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc(without(st(NotAction=""), "Action")),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc(st(Action="a a:ListBucket")), "Vendor a a is not valid"),
    (doc(st(Action="s3:List:Bucket")), "Actions/Condition can contain only one colon."),
    (doc(st(Action="s3s:ListBucket"), st(Action="s:3s:ListBucket")), "Actions/Condition can contain only one colon."),
    # -- resources
    (doc(st(Resource="invalid resource")), 'Resource invalid resource must be in ARN format or "*".'),
    (doc(st(Action="s:3:ListBucket", Resource="sdfsadf")), 'Resource sdfsadf must be in ARN format or "*".'),
    (doc(st(Resource=["adf"])), 'Resource adf must be in ARN format or "*".'),
    (doc(st(Resource="")), 'Resource  must be in ARN format or "*".'),
    (doc(without(st(NotAction="s3s:ListBucket", Resource="a:bsdfdsafsad"), "Action")),
     'Partition "bsdfdsafsad" is not valid for resource "arn:bsdfdsafsad:*:*:*:*".'),
    (doc(without(st(NotAction="s3s:ListBucket", Resource="a:b:cadfsdf"), "Action")),
     'Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*".'),
    (doc(without(st(NotAction="s3s:ListBucket", Resource="a:b:c:d:e:f:g:h"), "Action")),
     'Partition "b" is not valid for resource "arn:b:c:d:e:f:g:h".'),
    (doc(st(Resource="aws:s3:::example_bucket")),
     'Partition "s3" is not valid for resource "arn:s3:::example_bucket:*".'),
    (doc(st(Resource=["arn:error:s3:::example_bucket", "arn:error:s3::example_bucket"])),
     'Partition "error" is not valid for resource "arn:error:s3:::example_bucket".'),
    (doc(st(Resource="arn:aws")), "Resource vendor must be fully qualified and cannot contain regexes."),
    (doc(st(Resource="arn:aws:*:::bucket")), "Resource vendor must be fully qualified and cannot contain regexes."),
    (doc(st(Resource="arn:aws:iam:::example_bucket")),
     'IAM resource path must either be "*" or start with user/, federated-user/, role/, group/, instance-profile/, '
     "mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/."),
    (doc(st(Resource="arn:aws:iam:us-east-1::example_bucket")),
     "IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information."),
    (doc(st(Resource="arn:aws:s3:us-east-1::example_bucket")),
     "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."),
    (doc(without(st(), "Resource")), "Policy statement must contain resources."),
    (doc(st(Resource=[])), "Policy statement must contain resources."),
]  # fmt: skip


@pytest.mark.parametrize("document, message", IDENTITY_REFUSED)
def test_create_policy_refuses_with_iams_message(document, message):
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(MalformedPolicyDocument) as e:
        parse_policy(text, kind="identity", require_version=True)
    assert e.value.message == message
    assert e.value.code == "MalformedPolicyDocument" and e.value.status == 400
    assert isinstance(e.value, ServiceError)


IDENTITY_ACCEPTED = [
    doc(st(Resource=[S3])),
    doc(st(Action="iam: asdf safdsf af ")),
    doc(st(Resource=[S3, "*"])),
    doc(st(Action="*")),
    {"Version": V, "Statement": [st()]},
    doc(st(Action="service-prefix:action-name", Resource="*",
           Condition={"DateGreaterThan": {"aws:CurrentTime": "2017-07-01T00:00:00Z"},
                      "DateLessThan": {"aws:CurrentTime": "2017-12-31T23:59:59Z"}})),
    doc(st(Action="fsx:ListBucket")),
    doc(st(Resource="arn:aws:iam:::user/example_bucket")),
    doc(st(Resource="arn:aws:s33:::example_bucket")),
    doc(st(Resource="arn:aws:fdsasf")),
    doc(st(Condition={})),
    doc(st(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": "Department"}})),
    doc(st(Resource="arn:aws:ec2:us-east-1::example_bucket")),
    doc(st(Resource="arn:aws:invalid-service:us-east-1::example_bucket")),
    doc(st(Condition={"DateGreaterThan": {}})),
    doc(st(Condition={"DateGreaterThan": {"a": []}})),
    doc(st(Condition={"a": {}})),  # an unknown operator with nothing under it is ignored
    doc(st(Condition={"x": {}, "y": {}})),
    doc(st(Condition={"StringEqualsIfExists": {"a": "asf"}})),
    doc(st(Condition={"ForAnyValue:StringEqualsIfExists": {"a": "asf"}})),
    doc(st(Condition={"DateLessThanEquals": {"a": "2016-12-13T21:20:37.593194+00:00"}})),
    doc(st(Condition={"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+23"}})),
    doc(st(Condition={"DateLessThan": {"a": "-292275054"}})),
    doc(st(Condition={"DateGreaterThan": {"a": "01T"}})),
    doc(st(Condition={"Bool": {"aws:SecureTransport": False}, "NumericLessThan": {"s3:max-keys": 10}})),
    doc(st(Sid="sdf"), st()),
    doc(without(st(NotAction="s3:ListBucket", NotResource="*"), "Action", "Resource")),
    doc(without(st(Effect="Deny", Action="s3:*",
                   NotResource=["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]), "Resource")),
    doc(st(Action="s3-s:ListBucket"), Id="sdfsdfsdf"),
    doc(st(Action="s3.s:ListBucket")),
    doc(st(Resource="arn:aws:iam::*:user/${aws:username}")),
    doc(st(Action=["ec2:AttachVolume"], Resource=["arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:*:*:instance/*"],
           Condition={"ArnEquals": {"ec2:SourceInstanceARN": "arn:aws:ec2:*:*:instance/instance-id"}})),
]  # fmt: skip


@pytest.mark.parametrize("document", IDENTITY_ACCEPTED)
def test_create_policy_accepts(document):
    parsed = parse_policy(json.dumps(document), require_version=True)
    assert parsed.version == V and parsed.statements


def test_inline_policies_may_omit_the_version_and_mean_2008():
    parsed = parse_policy({"Statement": st()})
    assert parsed.version == "2008-10-17"
    assert parse_policy({"Version": "2008-10-17", "Statement": st()}).version == "2008-10-17"


TRUST = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}

TRUST_REFUSED = [
    (doc({**TRUST, "Resource": "*"}), "Has prohibited field Resource"),
    (doc({**TRUST, "NotResource": "*"}), "Has prohibited field NotResource"),
    (doc(without(TRUST, "Principal")), "Missing required field Principal"),
    (doc({**without(TRUST, "Principal"), "NotPrincipal": {"AWS": "111122223333"}}), "Has prohibited field NotPrincipal"),
    (doc(without(TRUST, "Action")), "Missing required field Action"),
    (doc({**TRUST, "Action": "s3:GetObject"}), "AssumeRole policy may only specify STS AssumeRole actions."),
    (doc({**TRUST, "Action": "*"}), "AssumeRole policy may only specify STS AssumeRole actions."),
    (doc({**TRUST, "Principal": {"AWS": "arn:aws:iam::123:user/x"}}),
     'Invalid principal in policy: "AWS":"arn:aws:iam::123:user/x"'),
    (doc({**TRUST, "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}}),
     'Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/*"'),
    (doc({**TRUST, "Principal": {"Service": "not a service"}}), 'Invalid principal in policy: "SERVICE":"not a service"'),
    (doc({**TRUST, "Principal": {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}}),
     'Invalid principal in policy: "CANONICALUSER":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"'),
    (doc({**TRUST, "Principal": "ec2.amazonaws.com"}), 'Invalid principal in policy: "ec2.amazonaws.com"'),
    (doc({**TRUST, "Principal": {}}), "Invalid principal in policy: {}"),
    (doc({**TRUST, "Effect": "Permit"}), "Syntax errors in policy."),
]  # fmt: skip


@pytest.mark.parametrize("document, message", TRUST_REFUSED)
def test_create_role_refuses_trust_policy(document, message):
    with pytest.raises(MalformedPolicyDocument) as e:
        parse_policy(json.dumps(document), kind="trust")
    assert e.value.message == message


@pytest.mark.parametrize(
    "principal",
    [
        "*",
        {"AWS": "*"},
        {"AWS": "111122223333"},
        {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:user/division/bob"]},
        {"AWS": "arn:aws:iam::111122223333:role/app/deployer"},
        {"AWS": "arn:aws:sts::111122223333:assumed-role/deployer/s1"},
        {"AWS": "AIDAJQABLZS4A3QDU576Q"},
        {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
        {"Federated": "arn:aws:iam::111122223333:saml-provider/corp"},
        {"Federated": "cognito-identity.amazonaws.com"},
    ],
)
def test_create_role_accepts_trust_principals(principal):
    parsed = parse_policy({"Version": V, "Statement": {**TRUST, "Principal": principal}}, kind="trust")
    assert parsed.statements[0].principal is not None


def test_trust_policy_from_the_aws_docs_with_conditions_is_accepted():
    parse_policy(
        {
            "Version": V,
            "Statement": [
                {
                    "Sid": "",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {"StringEquals": {"sts:ExternalId": "Unique ID Assigned by Example Corp"}},
                }
            ],
        },
        kind="trust",
    )


def test_bucket_policy_needs_a_principal_and_a_resource():
    bucket = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}
    parse_policy({"Version": V, "Statement": bucket}, kind="resource")
    with pytest.raises(MalformedPolicyDocument, match="Missing required field Principal"):
        parse_policy({"Version": V, "Statement": without(bucket, "Principal")}, kind="resource")
    with pytest.raises(MalformedPolicyDocument, match="Policy statement must contain resources."):
        parse_policy({"Version": V, "Statement": without(bucket, "Resource")}, kind="resource")
    # S3 lets Sids carry spaces and dashes, and grants to canonical users.
    parse_policy(
        {
            "Version": V,
            "Statement": {
                **bucket,
                "Sid": "Public read-only",
                "Principal": {"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
            },
        },
        kind="resource",
    )


def test_session_policy_is_an_identity_policy():
    with pytest.raises(MalformedPolicyDocument, match="should not specify a principal"):
        parse_policy({"Version": V, "Statement": st(Principal="*")}, kind="session")


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_policy({"Version": V, "Statement": st()}, kind="bucket")


def test_policy_size_does_not_count_white_space_outside_strings():
    compact = json.dumps({"Version": V, "Statement": st(Sid="A")}, separators=(",", ":"))
    pretty = json.dumps({"Version": V, "Statement": st(Sid="A")}, indent=4)
    assert policy_size(pretty) == policy_size(compact) == len(compact)
    assert policy_size({"Version": V, "Statement": st(Sid="A")}) == len(compact)
    assert policy_size('{"a": "x y"}') == len('{"a":"x y"}')
    assert policy_size('{"a": "x \\" y"}') == len('{"a":"x \\" y"}')
    assert POLICY_SIZE_LIMITS["managed"] == 6144 and POLICY_SIZE_LIMITS["user-inline"] == 2048


def test_parsing_text_is_memoised():
    text = json.dumps({"Version": V, "Statement": st()})
    assert parse_policy(text) is parse_policy(text)
    assert parse_policy(text, kind="session") is not parse_policy(text)
