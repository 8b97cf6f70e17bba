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
