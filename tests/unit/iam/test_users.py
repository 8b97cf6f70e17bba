"""Users: the life of alice and bob in one account."""

import datetime as dt

from tests.unit.iam.harness import ALLOW_ALL, fails


def test_create_get_update_delete(h):
    made = h.call("CreateUser", UserName="alice", Path="/staff/", Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert made["Arn"] == f"arn:aws:iam::{h.account_id}:user/staff/alice"
    assert made["UserId"].startswith("AIDA") and len(made["UserId"]) == 20
    assert made["CreateDate"].tzinfo is not None
    got = h.call("GetUser", UserName="ALICE")["User"]  # names are case-insensitive
    assert got["UserName"] == "alice" and got["Tags"] == [{"Key": "team", "Value": "blue"}]

    h.call("UpdateUser", UserName="alice", NewUserName="alicia", NewPath="/ops/")
    got = h.call("GetUser", UserName="alicia")["User"]
    assert got["Arn"].endswith(":user/ops/alicia") and got["UserId"] == made["UserId"]
    with fails("NoSuchEntity", 404, "The user with name alice cannot be found."):
        h.call("GetUser", UserName="alice")

    h.call("DeleteUser", UserName="alicia")
    assert h.call("ListUsers")["Users"] == []


def test_names_are_unique_without_regard_to_case(h):
    h.call("CreateUser", UserName="Bob")
    with fails("EntityAlreadyExists", 409, "User with name bob already exists."):
        h.call("CreateUser", UserName="bob")
    h.call("CreateUser", UserName="carol")
    with fails("EntityAlreadyExists", 409):
        h.call("UpdateUser", UserName="carol", NewUserName="BOB")


def test_get_user_without_a_name_is_the_caller(h):
    root = h.call("GetUser")["User"]
    assert root["Arn"] == f"arn:aws:iam::{h.account_id}:root" and root["UserId"] == h.account_id
    alice = h.user("alice", ALLOW_ALL)
    assert h.call("GetUser", as_=alice)["User"]["UserName"] == "alice"


def test_delete_refuses_while_the_user_holds_things(h):
    h.call("CreateUser", UserName="alice")
    key = h.call("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    with fails("DeleteConflict", 409, "must delete access keys first"):
        h.call("DeleteUser", UserName="alice")
    h.call("DeleteAccessKey", UserName="alice", AccessKeyId=key)

    h.call("CreateLoginProfile", UserName="alice", Password="Correct-Horse-9")
    with fails("DeleteConflict", 409, "must delete login profile first"):
        h.call("DeleteUser", UserName="alice")
    h.call("DeleteLoginProfile", UserName="alice")

    h.call("PutUserPolicy", UserName="alice", PolicyName="all", PolicyDocument=ALLOW_ALL)
    with fails("DeleteConflict", 409, "must delete policies first"):
        h.call("DeleteUser", UserName="alice")
    h.call("DeleteUserPolicy", UserName="alice", PolicyName="all")

    h.call("AttachUserPolicy", UserName="alice", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    with fails("DeleteConflict", 409, "must detach all policies first"):
        h.call("DeleteUser", UserName="alice")
    h.call("DetachUserPolicy", UserName="alice", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")

    h.call("CreateGroup", GroupName="devs")
    h.call("AddUserToGroup", GroupName="devs", UserName="alice")
    with fails("DeleteConflict", 409, "must remove users from group first"):
        h.call("DeleteUser", UserName="alice")
    h.call("RemoveUserFromGroup", GroupName="devs", UserName="alice")
    h.call("DeleteUser", UserName="alice")


def test_list_pages_with_an_opaque_marker_and_filters_by_path(h):
    for i in range(7):
        h.call("CreateUser", UserName=f"user{i}", Path="/a/" if i % 2 else "/b/")
    seen, marker = [], None
    while True:
        page = h.call("ListUsers", MaxItems=3, **({"Marker": marker} if marker else {}))
        seen += [u["UserName"] for u in page["Users"]]
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        assert len(page["Users"]) == 3
        marker = page["Marker"]
    assert seen == [f"user{i}" for i in range(7)]
    assert [u["UserName"] for u in h.call("ListUsers", PathPrefix="/a/")["Users"]] == ["user1", "user3", "user5"]
    with fails("ValidationError", 400):
        h.call("ListUsers", Marker="not-a-marker!")


def test_tags(h):
    h.call("CreateUser", UserName="alice")
    h.call("TagUser", UserName="alice", Tags=[{"Key": "Env", "Value": "prod"}, {"Key": "owner", "Value": "me"}])
    h.call("TagUser", UserName="alice", Tags=[{"Key": "env", "Value": "dev"}])  # same key, other case: replaced
    assert h.call("ListUserTags", UserName="alice")["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "me"}]
    with fails("InvalidInput", 400, "case insensitive"):
        h.call("TagUser", UserName="alice", Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    h.call("UntagUser", UserName="alice", TagKeys=["OWNER"])
    assert h.call("ListUserTags", UserName="alice")["Tags"] == [{"Key": "env", "Value": "dev"}]


def test_permissions_boundary_must_be_a_policy_the_account_can_use(h):
    with fails("NoSuchEntity", 404, "does not exist or is not attachable"):
        h.call("CreateUser", UserName="x", PermissionsBoundary="arn:aws:iam::aws:policy/NoSuchPolicy")
    arn = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    user = h.call("CreateUser", UserName="x", PermissionsBoundary=arn)["User"]
    assert user["PermissionsBoundary"] == {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}
    h.call("DeleteUserPermissionsBoundary", UserName="x")
    assert "PermissionsBoundary" not in h.call("GetUser", UserName="x")["User"]


def test_create_date_is_now(h):
    made = h.call("CreateUser", UserName="alice")["User"]["CreateDate"]
    assert abs(made - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(seconds=5)
