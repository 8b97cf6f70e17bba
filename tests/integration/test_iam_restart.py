"""Kill -9 and start again: every user, key and policy is still there, and old keys still sign."""

import json

import pytest

pytestmark = pytest.mark.integration


def test_state_survives_a_hard_kill(server):
    iam = server.client("iam")
    for name in ("ann", "ben", "cat"):
        iam.create_user(UserName=name, Path="/kept/")
    key = iam.create_access_key(UserName="ann")["AccessKey"]
    iam.put_user_policy(UserName="ann", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}]}))
    iam.create_group(GroupName="kept")
    iam.add_user_to_group(GroupName="kept", UserName="ben")
    admin_key = server.access_key

    server.restart()  # SIGKILL: no shutdown hook runs

    assert server.access_key == admin_key
    iam = server.client("iam")
    assert [u["UserName"] for u in iam.list_users(PathPrefix="/kept/")["Users"]] == ["ann", "ben", "cat"]
    assert [u["UserName"] for u in iam.get_group(GroupName="kept")["Users"]] == ["ben"]
    ann = server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert len(ann.list_users()["Users"]) == 3
    # The admin account was created once: its credentials did not change.
    assert f"AWS_ACCESS_KEY_ID={admin_key}" in server.cli("credentials").stdout
    assert len(json.loads(server.cli("account", "list", "--json").stdout)) == 1
