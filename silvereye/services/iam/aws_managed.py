"""AWS managed policies (``arn:aws:iam::aws:policy/...``) as silvereye offers them.

The names are AWS's, so scripts and templates that attach them work; the
documents grant what the AWS originals grant *in the services silvereye
has* (EC2 with EBS and ELB, S3, IAM, STS, AutoScaling, CloudWatch,
CloudFormation) and nothing pretending to cover services it does not.

They are written to the store by the schema migration and brought up to date
at each start (:func:`sync_aws_managed_policies`): a changed document becomes
a new default version, as AWS publishes its updates. Their ids are derived
from their names, so every silvereye database agrees on them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa

from silvereye.services.iam import schema
from silvereye.services.iam.schema import AWS_ACCOUNT

PUBLISHED = dt.datetime(2015, 2, 6, 18, 39, 46, tzinfo=dt.timezone.utc)
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _allow(actions: list[str], resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions if len(actions) > 1 else actions[0], "Resource": resource, **extra}


_SERVICE_LINKED = _allow(
    ["iam:CreateServiceLinkedRole"],
    Condition={"StringEquals": {"iam:AWSServiceName": [
        "autoscaling.amazonaws.com", "ec2scheduled.amazonaws.com", "elasticloadbalancing.amazonaws.com",
    ]}},
)

# name -> (path, description, statements)
POLICIES: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    "AdministratorAccess": ("/", "Provides full access to AWS services and resources.", [_allow(["*"])]),
    "PowerUserAccess": ("/", "Provides full access to AWS services and resources, but does not allow management of "
                             "Users and groups.", [
        {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
        _allow(["iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles"]),
    ]),
    "ReadOnlyAccess": ("/", "Provides read-only access to AWS services and resources.", [_allow([
        "autoscaling:Describe*", "cloudformation:Describe*", "cloudformation:Detect*", "cloudformation:Estimate*",
        "cloudformation:Get*", "cloudformation:List*", "cloudformation:ValidateTemplate", "cloudwatch:Describe*",
        "cloudwatch:Get*", "cloudwatch:List*", "ec2:Describe*", "ec2:Get*", "elasticloadbalancing:Describe*",
        "iam:Generate*", "iam:Get*", "iam:List*", "iam:Simulate*", "s3:Describe*", "s3:Get*", "s3:List*",
        "sts:GetCallerIdentity",
    ])]),
    "IAMFullAccess": ("/", "Provides full access to IAM via the AWS Management Console.", [_allow(["iam:*"])]),
    "IAMReadOnlyAccess": ("/", "Provides read only access to IAM via the AWS Management Console.", [_allow([
        "iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails", "iam:Get*", "iam:List*",
        "iam:SimulateCustomPolicy", "iam:SimulatePrincipalPolicy",
    ])]),
    "AmazonS3FullAccess": ("/", "Provides full access to all buckets via the AWS Management Console.",
                           [_allow(["s3:*", "s3-object-lambda:*"])]),
    "AmazonS3ReadOnlyAccess": ("/", "Provides read only access to all buckets via the AWS Management Console.",
                               [_allow(["s3:Get*", "s3:List*", "s3:Describe*", "s3-object-lambda:Get*",
                                        "s3-object-lambda:List*"])]),
    "AmazonEC2FullAccess": ("/", "Provides full access to Amazon EC2 via the AWS Management Console.", [
        _allow(["ec2:*"]), _allow(["elasticloadbalancing:*"]), _allow(["cloudwatch:*"]), _allow(["autoscaling:*"]),
        _SERVICE_LINKED,
    ]),
    "AmazonEC2ReadOnlyAccess": ("/", "Provides read only access to Amazon EC2 via the AWS Management Console.", [
        _allow(["ec2:Describe*"]), _allow(["elasticloadbalancing:Describe*"]),
        _allow(["cloudwatch:ListMetrics", "cloudwatch:GetMetricStatistics", "cloudwatch:Describe*"]),
        _allow(["autoscaling:Describe*"]),
    ]),
    "ElasticLoadBalancingFullAccess": ("/", "Provides full access to Amazon ElasticLoadBalancing, and limited access "
                                            "to other services necessary to provide ElasticLoadBalancing features.", [
        _allow(["elasticloadbalancing:*"]),
        _allow(["ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeInstances",
                "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeAvailabilityZones",
                "cloudwatch:DescribeAlarms", "iam:ListServerCertificates", "iam:GetServerCertificate"]),
        _SERVICE_LINKED,
    ]),
    "ElasticLoadBalancingReadOnly": ("/", "Provides read only access to Amazon ElasticLoadBalancing and dependent "
                                          "services", [_allow(["elasticloadbalancing:Describe*"]),
                                                       _allow(["ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
                                                               "ec2:DescribeSubnets", "ec2:DescribeVpcs"])]),
    "AutoScalingFullAccess": ("/", "Provides full access to Auto Scaling.", [
        _allow(["autoscaling:*"]),
        _allow(["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
                "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics"]),
        _allow(["ec2:Describe*", "ec2:RunInstances", "ec2:TerminateInstances", "ec2:CreateTags"]),
        _allow(["elasticloadbalancing:Describe*"]),
        _SERVICE_LINKED,
    ]),
    "AutoScalingReadOnlyAccess": ("/", "Provides read-only access to Auto Scaling.", [_allow(["autoscaling:Describe*"])]),
    "CloudWatchFullAccess": ("/", "Provides full access to CloudWatch.", [
        _allow(["autoscaling:Describe*", "cloudwatch:*"]),
    ]),
    "CloudWatchReadOnlyAccess": ("/", "Provides read only access to CloudWatch.", [
        _allow(["autoscaling:Describe*", "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"]),
    ]),
    "AWSCloudFormationFullAccess": ("/", "Provides full access to AWS CloudFormation.", [_allow(["cloudformation:*"])]),
    "AWSCloudFormationReadOnlyAccess": ("/", "Provides access to AWS CloudFormation via the AWS Management Console.", [
        _allow(["cloudformation:Describe*", "cloudformation:EstimateTemplateCost", "cloudformation:Get*",
                "cloudformation:List*", "cloudformation:ValidateTemplate", "cloudformation:Detect*"]),
    ]),
}


def arn_of(name: str) -> str:
    path = POLICIES[name][0]
    return f"arn:aws:iam::aws:policy{path}{name}"


def _policy_id(name: str) -> str:
    digest = hashlib.sha256(f"aws-managed-policy:{name}".encode()).digest()
    return "ANPA" + "".join(_B32[b % 32] for b in digest[:16])


def document(name: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": POLICIES[name][2]}, indent=4)


def sync_aws_managed_policies(conn: sa.Connection) -> None:
    """Insert missing AWS managed policies; publish changed documents as new default versions."""
    p, v = schema.managed_policies, schema.policy_versions
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for name, (path, description, _) in POLICIES.items():
        text = document(name)
        row = conn.execute(sa.select(p).where(p.c.arn == arn_of(name))).first()
        if row is None:
            pid = _policy_id(name)
            conn.execute(sa.insert(p).values(
                id=pid, account_id=AWS_ACCOUNT, arn=arn_of(name), name=name, name_key=name.lower(), path=path,
                description=description, default_version="v1", next_version=2, created=PUBLISHED, updated=PUBLISHED))
            conn.execute(sa.insert(v).values(policy_id=pid, version_id="v1", account_id=AWS_ACCOUNT, document=text,
                                             created=PUBLISHED))
            continue
        current = conn.execute(sa.select(v.c.document).where(
            v.c.policy_id == row.id, v.c.version_id == row.default_version)).scalar()
        if current == text:
            continue
        version = f"v{row.next_version}"
        conn.execute(sa.insert(v).values(policy_id=row.id, version_id=version, account_id=AWS_ACCOUNT, document=text,
                                         created=now))
        conn.execute(sa.update(p).where(p.c.id == row.id).values(
            default_version=version, next_version=row.next_version + 1, updated=now, description=description))
        old = [r.version_id for r in conn.execute(sa.select(v.c.version_id).where(v.c.policy_id == row.id))]
        old.sort(key=lambda vid: int(vid[1:]))
        for stale in old[:-5]:
            conn.execute(sa.delete(v).where(v.c.policy_id == row.id, v.c.version_id == stale))
