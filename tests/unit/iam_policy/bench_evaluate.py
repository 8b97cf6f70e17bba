"""How many authorisation decisions per second the policy engine makes (a measurement, not a test).

A realistic caller: an IAM user with an inline policy, a group's managed
policy and a second managed policy: 3 policies, 10 statements, conditions
on two of them, a policy variable on one. Each iteration does what the
gateway does per request: parse the stored policy texts (memoised), build
the context, evaluate.

    PYTHONPATH=. python -m tests.unit.iam_policy.bench_evaluate
"""

from __future__ import annotations

import datetime as dt
import json
import time

from silvereye.services.iam.policy import AuthzRequest, build_context, evaluate, parse_policy
from .helpers import ACCOUNT, user

INLINE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "OwnKeys", "Effect": "Allow", "Action": ["iam:*AccessKey*", "iam:GetUser", "iam:ChangePassword"],
         "Resource": "arn:aws:iam::*:user/${aws:username}"},
        {"Sid": "Home", "Effect": "Allow", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::home/${aws:username}", "arn:aws:s3:::home/${aws:username}/*"]},
        {"Sid": "NoPublic", "Effect": "Deny", "Action": ["s3:PutBucketPolicy", "s3:PutBucketAcl"], "Resource": "*"},
        {"Sid": "Describe", "Effect": "Allow", "Action": ["ec2:Describe*", "elasticloadbalancing:Describe*"],
         "Resource": "*"},
    ],
}
GROUP = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Instances", "Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:StartInstances", "ec2:StopInstances"],
         "Resource": f"arn:aws:ec2:*:{ACCOUNT}:*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}},
        {"Sid": "Volumes", "Effect": "Allow", "Action": ["ec2:*Volume*", "ec2:*Snapshot*"], "Resource": "*"},
        {"Sid": "Metrics", "Effect": "Allow", "Action": ["cloudwatch:Get*", "cloudwatch:List*", "cloudwatch:Put*"],
         "Resource": "*"},
        {"Sid": "OnlyFromOffice", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24", "10.0.0.0/8"]}}},
    ],
}
READ_IAM = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ReadIam", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "true"}, "DateLessThan": {"aws:CurrentTime": "2030-01-01"}}},
        {"Sid": "NoKeysOfOthers", "Effect": "Deny", "Action": "iam:CreateAccessKey",
         "NotResource": "arn:aws:iam::*:user/${aws:username}"},
    ],
}  # fmt: skip
TEXTS = [json.dumps(d) for d in (INLINE, GROUP, READ_IAM)]

REQUESTS = [
    ("iam:ListUsers", f"arn:aws:iam::{ACCOUNT}:user/"),  # allowed by the last statement of the last policy
    ("s3:GetObject", "arn:aws:s3:::home/alice/notes.txt"),  # allowed via a policy variable
    ("ec2:TerminateInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1"),  # implicit deny: every statement
    ("s3:PutBucketPolicy", "arn:aws:s3:::home"),  # explicit deny
]


def run(seconds: float = 2.0) -> None:
    alice = user("alice", tags=[("team", "red")])
    now = dt.datetime.now(dt.timezone.utc)
    for action, resource in REQUESTS:
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for _ in range(200):
                policies = [parse_policy(t) for t in TEXTS]
                ctx = build_context(alice, source_ip="203.0.113.7", secure=True, now=now, region="us-east-1")
                decision = evaluate(AuthzRequest(alice, action, resource, policies, context=ctx))
            count += 200
        elapsed = time.perf_counter() - start
        print(f"{action:24} {decision.reason:14} {count / elapsed:10,.0f} decisions/s  {elapsed / count * 1e6:6.1f} µs each")


if __name__ == "__main__":
    run()
