"""Account aliases and the account summary."""

from tests.unit.iam.harness import Harness, allow, fails, trust


def test_aliases_are_unique_across_the_cloud(h, store):
    assert h.call("ListAccountAliases") == {"AccountAliases": [], "IsTruncated": False}
    h.call("CreateAccountAlias", AccountAlias="acme-corp")
    h.call("CreateAccountAlias", AccountAlias="acme-corp")  # again: fine
    other = Harness(store, "other")
    with fails("EntityAlreadyExists", 409, "The account alias acme-corp already exists."):
        other.call("CreateAccountAlias", AccountAlias="acme-corp")
    h.call("CreateAccountAlias", AccountAlias="acme")  # an account has one alias: replaced
    assert h.call("ListAccountAliases")["AccountAliases"] == ["acme"]
    with fails("NoSuchEntity", 404):
        h.call("DeleteAccountAlias", AccountAlias="acme-corp")
    h.call("DeleteAccountAlias", AccountAlias="acme")
    other.call("CreateAccountAlias", AccountAlias="acme-corp")


def test_account_summary_counts_what_exists(h, store):
    before = h.call("GetAccountSummary")["SummaryMap"]
    assert before["Users"] == 0 and before["UsersQuota"] == 5000 and before["AccountAccessKeysPresent"] == 1
    h.call("CreateUser", UserName="a")
    h.call("CreateUser", UserName="b")
    h.call("CreateGroup", GroupName="g")
    h.call("CreateRole", RoleName="r", AssumeRolePolicyDocument=trust(h.account_id))
    h.call("CreatePolicy", PolicyName="p", PolicyDocument=allow("s3:*"))
    h.call("CreateInstanceProfile", InstanceProfileName="ip")
    Harness(store, "other").call("CreateUser", UserName="elsewhere")  # not counted here
    summary = h.call("GetAccountSummary")["SummaryMap"]
    assert (summary["Users"], summary["Groups"], summary["Roles"], summary["Policies"], summary["InstanceProfiles"]) == (
        2, 1, 1, 1, 1)
    assert summary["PolicyVersionsInUse"] == 1 and summary["AccessKeysPerUserQuota"] == 2


def test_account_authorization_details(h):
    h.call("CreateUser", UserName="alice", PermissionsBoundary="arn:aws:iam::aws:policy/ReadOnlyAccess")
    h.call("PutUserPolicy", UserName="alice", PolicyName="own", PolicyDocument=allow("s3:*"))
    h.call("CreateGroup", GroupName="devs")
    h.call("AddUserToGroup", GroupName="devs", UserName="alice")
    h.call("AttachGroupPolicy", GroupName="devs", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
    h.call("CreateRole", RoleName="web", AssumeRolePolicyDocument=trust(h.account_id))
    h.call("CreateInstanceProfile", InstanceProfileName="web")
    h.call("AddRoleToInstanceProfile", InstanceProfileName="web", RoleName="web")
    local = h.call("CreatePolicy", PolicyName="mine", PolicyDocument=allow("ec2:*"))["Policy"]["Arn"]
    h.call("CreatePolicyVersion", PolicyArn=local, PolicyDocument=allow("ec2:Describe*"), SetAsDefault=True)

    details = h.call("GetAccountAuthorizationDetails")
    (user,) = details["UserDetailList"]
    assert user["GroupList"] == ["devs"] and user["UserPolicyList"][0]["PolicyName"] == "own"
    assert user["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith("/ReadOnlyAccess")
    assert details["GroupDetailList"][0]["AttachedManagedPolicies"][0]["PolicyName"] == "AmazonEC2ReadOnlyAccess"
    assert details["RoleDetailList"][0]["InstanceProfileList"][0]["InstanceProfileName"] == "web"
    policies = {p["PolicyName"]: p for p in details["Policies"]}
    assert set(policies) == {"mine", "AmazonEC2ReadOnlyAccess"}  # AWS managed ones only when used
    assert [v["VersionId"] for v in policies["mine"]["PolicyVersionList"]] == ["v2", "v1"]

    only_roles = h.call("GetAccountAuthorizationDetails", Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and len(only_roles["RoleDetailList"]) == 1
    first = h.call("GetAccountAuthorizationDetails", MaxItems=2)
    rest = h.call("GetAccountAuthorizationDetails", Marker=first["Marker"])
    assert first["IsTruncated"] and not rest["IsTruncated"]
    total = lambda d: sum(len(d[k]) for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"))  # noqa: E731
    assert total(first) + total(rest) == total(details) == 5
