"""Groups with members, roles with trust policies, instance profiles holding a role."""

import json
from urllib.parse import unquote

from tests.unit.iam.harness import ALLOW_ALL, fails, trust


def test_group_membership(h):
    group = h.call("CreateGroup", GroupName="devs", Path="/eng/")["Group"]
    assert group["Arn"] == f"arn:aws:iam::{h.account_id}:group/eng/devs" and group["GroupId"].startswith("AGPA")
    for name in ("carol", "alice", "bob"):
        h.call("CreateUser", UserName=name)
        h.call("AddUserToGroup", GroupName="devs", UserName=name)
    h.call("AddUserToGroup", GroupName="devs", UserName="alice")  # twice: no error, no duplicate
    got = h.call("GetGroup", GroupName="devs", MaxItems=2)
    assert [u["UserName"] for u in got["Users"]] == ["alice", "bob"] and got["IsTruncated"]
    rest = h.call("GetGroup", GroupName="devs", Marker=got["Marker"])
    assert [u["UserName"] for u in rest["Users"]] == ["carol"] and not rest["IsTruncated"]
    assert [g["GroupName"] for g in h.call("ListGroupsForUser", UserName="bob")["Groups"]] == ["devs"]

    with fails("DeleteConflict", 409, "must remove users from group first"):
        h.call("DeleteGroup", GroupName="devs")
    for name in ("carol", "alice", "bob"):
        h.call("RemoveUserFromGroup", GroupName="devs", UserName=name)
    with fails("NoSuchEntity", 404):
        h.call("RemoveUserFromGroup", GroupName="devs", UserName="bob")
    h.call("UpdateGroup", GroupName="devs", NewGroupName="developers")
    h.call("DeleteGroup", GroupName="developers")
    assert h.call("ListGroups")["Groups"] == []


def test_a_user_joins_at_most_ten_groups(h):
    h.call("CreateUser", UserName="alice")
    for i in range(10):
        h.call("CreateGroup", GroupName=f"g{i}")
        h.call("AddUserToGroup", GroupName=f"g{i}", UserName="alice")
    h.call("CreateGroup", GroupName="g10")
    with fails("LimitExceeded", 409, "Cannot exceed quota for GroupsPerUser: 10"):
        h.call("AddUserToGroup", GroupName="g10", UserName="alice")


def test_role_with_trust_policy(h):
    h.call("CreateUser", UserName="alice")
    doc = trust(f"arn:aws:iam::{h.account_id}:user/alice")
    role = h.call("CreateRole", RoleName="deployer", AssumeRolePolicyDocument=doc, Description="deploys",
                  MaxSessionDuration=7200, Tags=[{"Key": "k", "Value": "v"}])["Role"]
    assert role["Arn"] == f"arn:aws:iam::{h.account_id}:role/deployer" and role["RoleId"].startswith("AROA")
    assert json.loads(unquote(role["AssumeRolePolicyDocument"])) == json.loads(doc)
    got = h.call("GetRole", RoleName="DEPLOYER")["Role"]
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "deploys" and got["RoleLastUsed"] == {}
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]

    h.call("UpdateRole", RoleName="deployer", MaxSessionDuration=3600)
    assert h.call("UpdateRoleDescription", RoleName="deployer", Description="new")["Role"]["Description"] == "new"
    with fails("ValidationError", 400):
        h.call("UpdateRole", RoleName="deployer", MaxSessionDuration=60)
    h.call("UpdateAssumeRolePolicy", RoleName="deployer", PolicyDocument=trust(h.account_id))
    assert [r["RoleName"] for r in h.call("ListRoles")["Roles"]] == ["deployer"]
    h.call("DeleteRole", RoleName="deployer")
    with fails("NoSuchEntity", 404, "The role with name deployer cannot be found."):
        h.call("GetRole", RoleName="deployer")


def test_trust_policies_are_validated(h):
    with fails("MalformedPolicyDocument", 400):
        h.call("CreateRole", RoleName="r", AssumeRolePolicyDocument="{not json")
    with fails("MalformedPolicyDocument", 400, "Invalid principal in policy"):
        h.call("CreateRole", RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{h.account_id}:user/nobody"))
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": f"s{i}", "Effect": "Allow", "Principal": {"AWS": h.account_id}, "Action": "sts:AssumeRole"}
        for i in range(40)]})
    with fails("LimitExceeded", 409, "ACLSizePerRole: 2048"):
        h.call("CreateRole", RoleName="r", AssumeRolePolicyDocument=big)
    assert h.call("ListRoles")["Roles"] == []


def test_role_delete_refuses_while_it_has_policies_or_profiles(h):
    h.call("CreateRole", RoleName="web", AssumeRolePolicyDocument=trust(h.account_id))
    h.call("PutRolePolicy", RoleName="web", PolicyName="all", PolicyDocument=ALLOW_ALL)
    with fails("DeleteConflict", 409, "must delete policies first"):
        h.call("DeleteRole", RoleName="web")
    h.call("DeleteRolePolicy", RoleName="web", PolicyName="all")
    h.call("CreateInstanceProfile", InstanceProfileName="web-profile")
    h.call("AddRoleToInstanceProfile", InstanceProfileName="web-profile", RoleName="web")
    with fails("DeleteConflict", 409, "must remove roles from instance profile first"):
        h.call("DeleteRole", RoleName="web")


def test_instance_profiles_hold_one_role(h):
    h.call("CreateRole", RoleName="a", AssumeRolePolicyDocument=trust(h.account_id))
    h.call("CreateRole", RoleName="b", AssumeRolePolicyDocument=trust(h.account_id))
    profile = h.call("CreateInstanceProfile", InstanceProfileName="p", Path="/apps/")["InstanceProfile"]
    assert profile["Arn"] == f"arn:aws:iam::{h.account_id}:instance-profile/apps/p" and profile["Roles"] == []
    h.call("AddRoleToInstanceProfile", InstanceProfileName="p", RoleName="a")
    with fails("LimitExceeded", 409, "InstanceSessionsPerInstanceProfile: 1"):
        h.call("AddRoleToInstanceProfile", InstanceProfileName="p", RoleName="b")
    got = h.call("GetInstanceProfile", InstanceProfileName="p")["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == ["a"]
    assert [p["InstanceProfileName"] for p in h.call("ListInstanceProfilesForRole", RoleName="a")["InstanceProfiles"]] == ["p"]
    with fails("DeleteConflict", 409):
        h.call("DeleteInstanceProfile", InstanceProfileName="p")
    h.call("RemoveRoleFromInstanceProfile", InstanceProfileName="p", RoleName="a")
    h.call("DeleteInstanceProfile", InstanceProfileName="p")
    assert h.call("ListInstanceProfiles")["InstanceProfiles"] == []
