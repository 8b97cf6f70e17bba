"""STS over the wire: a deployer assumes a role and works with what the role allows."""

import json

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def test_assume_role_and_use_the_session(server):
    iam = server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]
    iam.create_user(UserName="deployer")
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    deployer = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
    role_arn = iam.create_role(RoleName="admin-role", MaxSessionDuration=7200, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{account}:user/deployer"}}]}))["Role"]["Arn"]
    iam.attach_role_policy(RoleName="admin-role", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")

    sts = server.client("sts", **deployer)
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci-run-7", DurationSeconds=3600)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/admin-role/ci-run-7"
    creds = out["Credentials"]
    session = {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
               "session_token": creds["SessionToken"]}
    assert server.client("sts", **session).get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    as_role = server.client("iam", **session)
    assert "deployer" in [u["UserName"] for u in as_role.list_users()["Users"]]
    with pytest.raises(ClientError) as e:
        as_role.create_user(UserName="intruder")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert "assumed-role/admin-role/ci-run-7 is not authorized" in e.value.response["Error"]["Message"]
    assert iam.get_role(RoleName="admin-role")["Role"]["RoleLastUsed"]["LastUsedDate"]

    # A session policy narrows the role: this one allows only GetUser.
    narrow = sts.assume_role(RoleArn=role_arn, RoleSessionName="narrow", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}))
    assert 0 < narrow["PackedPolicySize"] <= 100
    c = narrow["Credentials"]
    narrow_iam = server.client("iam", access_key=c["AccessKeyId"], secret_key=c["SecretAccessKey"],
                               session_token=c["SessionToken"])
    narrow_iam.get_user(UserName="deployer")
    with pytest.raises(ClientError):
        narrow_iam.list_users()

    # Only who the trust policy names may assume the role; root never.
    with pytest.raises(ClientError) as e:
        server.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="root")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    iam.create_user(UserName="stranger")
    k2 = iam.create_access_key(UserName="stranger")["AccessKey"]
    with pytest.raises(ClientError) as e:
        server.client("sts", access_key=k2["AccessKeyId"], secret_key=k2["SecretAccessKey"]).assume_role(
            RoleArn=role_arn, RoleSessionName="xx")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="too-long", DurationSeconds=10000)
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_aws_cli_session_token_and_identity(server):
    out = json.loads(server.aws("sts", "get-session-token", "--duration-seconds", "900").stdout)["Credentials"]
    me = json.loads(server.aws("sts", "get-caller-identity", access_key=out["AccessKeyId"],
                               secret_key=out["SecretAccessKey"], session_token=out["SessionToken"]).stdout)
    assert me["Arn"].endswith(":root")
    denied = server.aws("iam", "list-users", access_key=out["AccessKeyId"], secret_key=out["SecretAccessKey"],
                        session_token=out["SessionToken"], check=False)
    assert denied.returncode != 0 and "InvalidClientTokenId" in denied.stderr  # no MFA, no IAM
    unsupported = server.aws("sts", "get-federation-token", "--name", "federated", check=False)
    assert unsupported.returncode != 0 and "NotImplemented" in unsupported.stderr
