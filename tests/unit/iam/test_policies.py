"""Inline policies, managed policies with versions, attachments and who uses a policy."""

import json
from urllib.parse import unquote

from tests.unit.iam.harness import ALLOW_ALL, allow, fails

S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def test_inline_policies_of_users_groups_and_roles(h):
    h.call("CreateUser", UserName="alice")
    doc = allow("s3:GetObject")
    h.call("PutUserPolicy", UserName="alice", PolicyName="Read", PolicyDocument=doc)
    got = h.call("GetUserPolicy", UserName="alice", PolicyName="read")
    assert got["PolicyName"] == "Read" and got["UserName"] == "alice" and unquote(got["PolicyDocument"]) == doc
    h.call("PutUserPolicy", UserName="alice", PolicyName="read", PolicyDocument=ALLOW_ALL)  # replaces
    assert h.call("ListUserPolicies", UserName="alice")["PolicyNames"] == ["read"]
    h.call("DeleteUserPolicy", UserName="alice", PolicyName="read")
    with fails("NoSuchEntity", 404, "The user policy with name read cannot be found."):
        h.call("GetUserPolicy", UserName="alice", PolicyName="read")

    h.call("CreateGroup", GroupName="g")
    h.call("PutGroupPolicy", GroupName="g", PolicyName="p", PolicyDocument=doc)
    assert h.call("ListGroupPolicies", GroupName="g")["PolicyNames"] == ["p"]
    with fails("MalformedPolicyDocument", 400):
        h.call("PutGroupPolicy", GroupName="g", PolicyName="bad", PolicyDocument='{"Statement": []}')
    with fails("MalformedPolicyDocument", 400):
        h.call("PutGroupPolicy", GroupName="g", PolicyName="bad", PolicyDocument="{")


def test_inline_policies_of_a_user_share_2048_characters(h):
    h.call("CreateUser", UserName="alice")
    resource = "arn:aws:s3:::" + "b" * 900
    h.call("PutUserPolicy", UserName="alice", PolicyName="one", PolicyDocument=allow("s3:GetObject", resource=resource))
    h.call("PutUserPolicy", UserName="alice", PolicyName="one", PolicyDocument=allow("s3:PutObject", resource=resource))
    with fails("LimitExceeded", 409, "Maximum policy size of 2048 bytes exceeded for user alice"):
        h.call("PutUserPolicy", UserName="alice", PolicyName="two", PolicyDocument=allow("s3:GetObject", resource=resource + "x" * 300))
    # White space is not counted.
    spaced = json.dumps(json.loads(allow("s3:*")), indent=40)
    h.call("PutUserPolicy", UserName="alice", PolicyName="three", PolicyDocument=spaced)


def test_managed_policy_versions(h):
    created = h.call("CreatePolicy", PolicyName="Readers", Path="/team/", PolicyDocument=allow("s3:Get*"),
                     Description="read things", Tags=[{"Key": "a", "Value": "b"}])["Policy"]
    arn = created["Arn"]
    assert arn == f"arn:aws:iam::{h.account_id}:policy/team/Readers"
    assert created["DefaultVersionId"] == "v1" and created["AttachmentCount"] == 0 and created["PolicyId"].startswith("ANPA")
    with fails("EntityAlreadyExists", 409, "A policy called readers already exists"):
        h.call("CreatePolicy", PolicyName="readers", PolicyDocument=allow("s3:Get*"))
    with fails("MalformedPolicyDocument", 400):  # managed policies must say Version 2012-10-17
        h.call("CreatePolicy", PolicyName="old", PolicyDocument=json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))

    for n in range(2, 6):
        v = h.call("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=allow(f"s3:Get{n}*"), SetAsDefault=n == 3)
        assert v["PolicyVersion"]["VersionId"] == f"v{n}"
    with fails("LimitExceeded", 409, "VersionsPerPolicy: 5"):
        h.call("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=allow("s3:Get6*"))
    versions = h.call("ListPolicyVersions", PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [
        ("v5", False), ("v4", False), ("v3", True), ("v2", False), ("v1", False)]
    assert h.call("GetPolicy", PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    doc = h.call("GetPolicyVersion", PolicyArn=arn, VersionId="v3")["PolicyVersion"]["Document"]
    assert json.loads(unquote(doc))["Statement"][0]["Action"] == ["s3:Get3*"]

    with fails("DeleteConflict", 409, "Cannot delete the default version of a policy."):
        h.call("DeletePolicyVersion", PolicyArn=arn, VersionId="v3")
    h.call("SetDefaultPolicyVersion", PolicyArn=arn, VersionId="v5")
    with fails("DeleteConflict", 409, "more than one version"):
        h.call("DeletePolicy", PolicyArn=arn)
    for version in ("v1", "v2", "v3", "v4"):
        h.call("DeletePolicyVersion", PolicyArn=arn, VersionId=version)
    with fails("NoSuchEntity", 404):
        h.call("GetPolicyVersion", PolicyArn=arn, VersionId="v1")
    h.call("DeletePolicy", PolicyArn=arn)
    with fails("NoSuchEntity", 404, f"Policy {arn} was not found."):
        h.call("GetPolicy", PolicyArn=arn)


def test_attach_detach_and_who_uses_a_policy(h):
    arn = h.call("CreatePolicy", PolicyName="p", PolicyDocument=allow("ec2:Describe*"))["Policy"]["Arn"]
    h.call("CreateUser", UserName="alice")
    h.call("CreateGroup", GroupName="devs")
    h.call("CreateRole", RoleName="web", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)  # twice: once
    h.call("AttachGroupPolicy", GroupName="devs", PolicyArn=arn)
    h.call("AttachRolePolicy", RoleName="web", PolicyArn=arn)
    h.call("AttachRolePolicy", RoleName="web", PolicyArn=S3_READ)
    h.call("CreateUser", UserName="bounded", PermissionsBoundary=arn)

    assert h.call("GetPolicy", PolicyArn=arn)["Policy"]["AttachmentCount"] == 3
    assert h.call("GetPolicy", PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    entities = h.call("ListEntitiesForPolicy", PolicyArn=arn)
    assert entities["PolicyUsers"] == [{"UserName": "alice", "UserId": entities["PolicyUsers"][0]["UserId"]}]
    assert [g["GroupName"] for g in entities["PolicyGroups"]] == ["devs"]
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["web"]
    only_roles = h.call("ListEntitiesForPolicy", PolicyArn=arn, EntityFilter="Role")
    assert only_roles["PolicyUsers"] == [] and len(only_roles["PolicyRoles"]) == 1
    boundary = h.call("ListEntitiesForPolicy", PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
    assert [u["UserName"] for u in boundary["PolicyUsers"]] == ["bounded"]
    attached = h.call("ListAttachedRolePolicies", RoleName="web")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonS3ReadOnlyAccess", "p"]

    with fails("DeleteConflict", 409, "Cannot delete a policy attached to entities."):
        h.call("DeletePolicy", PolicyArn=arn)
    h.call("DetachUserPolicy", UserName="alice", PolicyArn=arn)
    with fails("NoSuchEntity", 404):
        h.call("DetachUserPolicy", UserName="alice", PolicyArn=arn)
    with fails("NoSuchEntity", 404, "does not exist or is not attachable"):
        h.call("AttachUserPolicy", UserName="alice", PolicyArn="arn:aws:iam::aws:policy/Nope")


def test_ten_attached_policies_per_user(h):
    h.call("CreateUser", UserName="alice")
    for i in range(10):
        arn = h.call("CreatePolicy", PolicyName=f"p{i}", PolicyDocument=allow("s3:*"))["Policy"]["Arn"]
        h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)
    with fails("LimitExceeded", 409, "PoliciesPerUser: 10"):
        h.call("AttachUserPolicy", UserName="alice", PolicyArn=S3_READ)


def test_list_policies_scopes_and_filters(h):
    mine = h.call("CreatePolicy", PolicyName="Mine", Path="/x/", PolicyDocument=allow("s3:*"))["Policy"]["Arn"]
    local = h.call("ListPolicies", Scope="Local")["Policies"]
    assert [p["Arn"] for p in local] == [mine]
    aws = h.call("ListPolicies", Scope="AWS", MaxItems=1000)["Policies"]
    assert "arn:aws:iam::aws:policy/AdministratorAccess" in [p["Arn"] for p in aws] and mine not in [p["Arn"] for p in aws]
    assert h.call("ListPolicies", OnlyAttached=True)["Policies"] == []
    h.call("CreateUser", UserName="alice")
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=S3_READ)
    attached = h.call("ListPolicies", OnlyAttached=True)["Policies"]
    assert [(p["PolicyName"], p["AttachmentCount"]) for p in attached] == [("AmazonS3ReadOnlyAccess", 1)]
    assert [p["Arn"] for p in h.call("ListPolicies", PathPrefix="/x/")["Policies"]] == [mine]
    everything, marker, pages = [], None, 0
    while True:
        page = h.call("ListPolicies", MaxItems=4, **({"Marker": marker} if marker else {}))
        everything += [p["Arn"] for p in page["Policies"]]
        pages += 1
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert len(everything) == len(set(everything)) == len(aws) + 1 and pages > 1


def test_aws_managed_policies_cannot_be_changed(h):
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    policy = h.call("GetPolicy", PolicyArn=admin)["Policy"]
    assert policy["PolicyName"] == "AdministratorAccess" and policy["DefaultVersionId"] == "v1"
    doc = json.loads(unquote(h.call("GetPolicyVersion", PolicyArn=admin, VersionId="v1")["PolicyVersion"]["Document"]))
    assert doc["Statement"][0]["Action"] == "*"
    with fails("InvalidInput", 400):
        h.call("CreatePolicyVersion", PolicyArn=admin, PolicyDocument=allow("s3:*"))
    with fails("InvalidInput", 400):
        h.call("DeletePolicy", PolicyArn=admin)


def test_another_accounts_policy_is_invisible(h, store):
    from tests.unit.iam.harness import Harness

    other = Harness(store, "other")
    arn = other.call("CreatePolicy", PolicyName="theirs", PolicyDocument=allow("s3:*"))["Policy"]["Arn"]
    h.call("CreateUser", UserName="alice")
    with fails("AccessDenied", 403, "because no resource-based policy allows the iam:GetPolicy action"):
        h.call("GetPolicy", PolicyArn=arn)
    with fails("NoSuchEntity", 404):
        h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)
