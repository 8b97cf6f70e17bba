"""IAM over the wire with boto3 and the aws CLI: what SDKs see (shapes, errors, paginators)."""

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = pytest.mark.integration

READ_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}


def error(excinfo) -> tuple[str, int]:
    e = excinfo.value
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def iam(shared_server):
    return shared_server.client("iam")


def test_users_groups_and_errors(iam):
    iam.create_user(UserName="api-alice", Path="/api/", Tags=[{"Key": "team", "Value": "blue"}])
    user = iam.get_user(UserName="api-alice")["User"]
    assert user["Path"] == "/api/" and user["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert isinstance(user["CreateDate"], dt.datetime)
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="API-ALICE")
    assert error(e) == ("EntityAlreadyExists", 409)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as e:
        iam.get_user(UserName="api-nobody")
    assert error(e) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName="bad name!")
    assert error(e)[0] == "ValidationError"

    iam.create_group(GroupName="api-devs")
    iam.add_user_to_group(GroupName="api-devs", UserName="api-alice")
    assert [u["UserName"] for u in iam.get_group(GroupName="api-devs")["Users"]] == ["api-alice"]
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName="api-alice")
    assert error(e) == ("DeleteConflict", 409)


def test_paginators_follow_the_marker(iam):
    for i in range(12):
        iam.create_user(UserName=f"page-{i:02d}", Path="/paged/")
    pages = list(iam.get_paginator("list_users").paginate(PathPrefix="/paged/", PaginationConfig={"PageSize": 5}))
    assert [len(p["Users"]) for p in pages] == [5, 5, 2]
    assert [u["UserName"] for p in pages for u in p["Users"]] == [f"page-{i:02d}" for i in range(12)]


def test_policy_documents_come_back_as_documents(iam):
    iam.create_user(UserName="api-doc")
    iam.put_user_policy(UserName="api-doc", PolicyName="read", PolicyDocument=json.dumps(READ_S3))
    assert iam.get_user_policy(UserName="api-doc", PolicyName="read")["PolicyDocument"] == READ_S3
    arn = iam.create_policy(PolicyName="api-read", PolicyDocument=json.dumps(READ_S3))["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(READ_S3), SetAsDefault=True)
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]
    assert version["IsDefaultVersion"] and version["Document"] == READ_S3
    iam.attach_user_policy(UserName="api-doc", PolicyArn=arn)
    assert iam.list_entities_for_policy(PolicyArn=arn)["PolicyUsers"][0]["UserName"] == "api-doc"
    with pytest.raises(ClientError) as e:
        iam.put_user_policy(UserName="api-doc", PolicyName="bad", PolicyDocument='{"Version": "2012-10-17"}')
    assert error(e) == ("MalformedPolicyDocument", 400)
    details = iam.get_account_authorization_details(Filter=["User"])["UserDetailList"]
    assert {"PolicyName": "read", "PolicyDocument": READ_S3} in [p for u in details for p in u["UserPolicyList"]]
    admin = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
    assert admin["Arn"] == "arn:aws:iam::aws:policy/AdministratorAccess"


def test_roles_and_instance_profiles(iam):
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="api-web", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    assert role["AssumeRolePolicyDocument"] == trust
    iam.create_instance_profile(InstanceProfileName="api-web")
    iam.add_role_to_instance_profile(InstanceProfileName="api-web", RoleName="api-web")
    profile = iam.get_instance_profile(InstanceProfileName="api-web")["InstanceProfile"]
    assert profile["Roles"][0]["RoleName"] == "api-web" and profile["Roles"][0]["AssumeRolePolicyDocument"] == trust
    with pytest.raises(ClientError) as e:
        iam.add_role_to_instance_profile(InstanceProfileName="api-web", RoleName="api-web")
    assert error(e) == ("LimitExceeded", 409)


def test_server_certificate_round_trip(iam):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lb.example.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    body = cert.public_bytes(serialization.Encoding.PEM).decode()
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    meta = iam.upload_server_certificate(ServerCertificateName="api-lb", CertificateBody=body,
                                         PrivateKey=pem_key)["ServerCertificateMetadata"]
    assert meta["Expiration"] > now
    got = iam.get_server_certificate(ServerCertificateName="api-lb")["ServerCertificate"]
    assert got["CertificateBody"] == body.strip() and "PrivateKey" not in got
    with pytest.raises(ClientError) as e:
        iam.upload_server_certificate(ServerCertificateName="api-bad", CertificateBody="garbage", PrivateKey=pem_key)
    assert error(e) == ("MalformedCertificate", 400)


def test_account_summary_alias_and_password_policy(iam):
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Users"] >= 1 and summary["UsersQuota"] == 5000
    iam.create_account_alias(AccountAlias="api-cloud")
    assert iam.list_account_aliases()["AccountAliases"] == ["api-cloud"]
    iam.update_account_password_policy(MinimumPasswordLength=10, RequireNumbers=True)
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 10
    iam.create_user(UserName="api-login")
    with pytest.raises(ClientError) as e:
        iam.create_login_profile(UserName="api-login", Password="short")
    assert error(e) == ("PasswordPolicyViolation", 400)
    iam.create_login_profile(UserName="api-login", Password="long-enough-1")
    iam.delete_account_password_policy()


def test_the_aws_cli_drives_policies_from_files(shared_server, tmp_path):
    doc = tmp_path / "policy.json"
    doc.write_text(json.dumps(READ_S3))
    shared_server.aws("iam", "create-user", "--user-name", "cli-bob")
    shared_server.aws("iam", "put-user-policy", "--user-name", "cli-bob", "--policy-name", "read",
                      "--policy-document", f"file://{doc}")
    got = json.loads(shared_server.aws("iam", "get-user-policy", "--user-name", "cli-bob", "--policy-name", "read").stdout)
    assert got["PolicyDocument"] == READ_S3
    missing = shared_server.aws("iam", "get-user", "--user-name", "cli-nobody", check=False)
    assert missing.returncode != 0 and "(NoSuchEntity)" in missing.stderr
