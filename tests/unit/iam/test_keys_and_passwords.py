"""Access keys (two per user, status, last use) and login passwords (hashed, policed)."""

from silvereye.services.iam import passwords
from silvereye.services.iam.usage import recorder_for
from tests.unit.iam.harness import ALLOW_ALL, fails


def test_two_access_keys_per_user(h):
    h.call("CreateUser", UserName="alice")
    first = h.call("CreateAccessKey", UserName="alice")["AccessKey"]
    assert first["AccessKeyId"].startswith("AKIA") and len(first["AccessKeyId"]) == 20
    assert len(first["SecretAccessKey"]) == 40 and first["Status"] == "Active" and first["UserName"] == "alice"
    h.call("CreateAccessKey", UserName="alice")
    with fails("LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2"):
        h.call("CreateAccessKey", UserName="alice")
    listed = h.call("ListAccessKeys", UserName="alice")["AccessKeyMetadata"]
    assert len(listed) == 2 and all("SecretAccessKey" not in k for k in listed)

    h.call("UpdateAccessKey", UserName="alice", AccessKeyId=first["AccessKeyId"], Status="Inactive")
    assert h.resolver.lookup(first["AccessKeyId"]).active is False
    with fails("ValidationError", 400):
        h.call("UpdateAccessKey", UserName="alice", AccessKeyId=first["AccessKeyId"], Status="Paused")
    h.call("DeleteAccessKey", UserName="alice", AccessKeyId=first["AccessKeyId"])
    assert h.resolver.lookup(first["AccessKeyId"]) is None
    with fails("NoSuchEntity", 404, f"The Access Key with id {first['AccessKeyId']} cannot be found."):
        h.call("DeleteAccessKey", UserName="alice", AccessKeyId=first["AccessKeyId"])


def test_a_user_manages_its_own_keys_without_naming_itself(h):
    alice = h.user("alice", ALLOW_ALL)
    created = h.call("CreateAccessKey", as_=alice)["AccessKey"]
    assert created["UserName"] == "alice"
    ids = {k["AccessKeyId"] for k in h.call("ListAccessKeys", as_=alice)["AccessKeyMetadata"]}
    assert ids == {alice.access_key_id, created["AccessKeyId"]}
    # Root's own keys are separate from any user's.
    root_keys = [k["AccessKeyId"] for k in h.call("ListAccessKeys")["AccessKeyMetadata"]]
    assert root_keys == [h.root.access_key_id]


def test_access_key_last_used(h):
    alice = h.user("alice")
    used = h.call("GetAccessKeyLastUsed", AccessKeyId=alice.access_key_id)
    assert used["UserName"] == "alice"
    assert used["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    h.resolver.record_use(alice.access_key_id, "ec2", "silvereye-1")
    last = h.call("GetAccessKeyLastUsed", AccessKeyId=alice.access_key_id)["AccessKeyLastUsed"]
    assert last["ServiceName"] == "ec2" and last["Region"] == "silvereye-1" and last["LastUsedDate"].tzinfo
    recorder_for(h.store).flush()  # nothing pending: a no-op


def test_passwords_are_salted_scrypt_hashes():
    a, b = passwords.hash_password("Secret-123"), passwords.hash_password("Secret-123")
    assert a != b and a.startswith("scrypt$") and "Secret-123" not in a
    assert passwords.verify_password("Secret-123", a) and not passwords.verify_password("secret-123", a)
    assert not passwords.verify_password("x", "garbage")


def test_login_profile_and_the_default_password_policy(h):
    h.call("CreateUser", UserName="alice")
    with fails("PasswordPolicyViolation", 400, "minimum length of 8"):
        h.call("CreateLoginProfile", UserName="alice", Password="Ab1!")
    with fails("PasswordPolicyViolation", 400, "at least three"):
        h.call("CreateLoginProfile", UserName="alice", Password="alllowercase")
    made = h.call("CreateLoginProfile", UserName="alice", Password="Good-Pass-1", PasswordResetRequired=True)
    assert made["LoginProfile"]["PasswordResetRequired"] is True
    with fails("EntityAlreadyExists", 409):
        h.call("CreateLoginProfile", UserName="alice", Password="Good-Pass-1")
    assert h.call("GetLoginProfile", UserName="alice")["LoginProfile"]["UserName"] == "alice"
    h.call("UpdateLoginProfile", UserName="alice", PasswordResetRequired=False)
    assert h.call("GetLoginProfile", UserName="alice")["LoginProfile"]["PasswordResetRequired"] is False
    h.call("DeleteLoginProfile", UserName="alice")
    with fails("NoSuchEntity", 404, "Login Profile for User alice cannot be found."):
        h.call("GetLoginProfile", UserName="alice")


def test_custom_password_policy_and_change_password(h):
    h.call("UpdateAccountPasswordPolicy", MinimumPasswordLength=12, RequireSymbols=True, PasswordReusePrevention=2,
           AllowUsersToChangePassword=True)
    policy = h.call("GetAccountPasswordPolicy")["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 12 and policy["RequireSymbols"] and policy["PasswordReusePrevention"] == 2
    assert policy["ExpirePasswords"] is False and policy["RequireNumbers"] is False
    alice = h.user("alice")  # no policies at all
    with fails("PasswordPolicyViolation", 400, "minimum length of 12"):
        h.call("CreateLoginProfile", UserName="alice", Password="short!")
    with fails("PasswordPolicyViolation", 400, "symbol"):
        h.call("CreateLoginProfile", UserName="alice", Password="longenoughpassword")
    h.call("CreateLoginProfile", UserName="alice", Password="first-password!")

    # AllowUsersToChangePassword lets alice change her own without any IAM policy.
    with fails("AccessDenied", 403):
        h.call("ChangePassword", as_=alice, OldPassword="wrong", NewPassword="second-password!")
    h.call("ChangePassword", as_=alice, OldPassword="first-password!", NewPassword="second-password!")
    with fails("PasswordPolicyViolation", 400, "previous 2 passwords"):
        h.call("ChangePassword", as_=alice, OldPassword="second-password!", NewPassword="first-password!")

    h.call("DeleteAccountPasswordPolicy")
    with fails("NoSuchEntity", 404):
        h.call("GetAccountPasswordPolicy")
    with fails("AccessDenied", 403):  # no longer allowed by the account's policy, and alice has none
        h.call("ChangePassword", as_=alice, OldPassword="second-password!", NewPassword="Third-password-3")
