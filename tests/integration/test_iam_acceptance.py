"""The issue's acceptance, as a person would do it with the aws CLI and the admin profile."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_alice_is_denied_until_a_policy_allows_her(server, tmp_path):
    # The admin profile, exactly as `silvereye credentials --format aws-config` prints it.
    config = tmp_path / "aws-config"
    config.write_text(server.cli("credentials", "--format", "aws-config").stdout)
    admin = {"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "admin"}

    def aws(*args, creds=None, check=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-credentials")
        env.update(creds or admin)
        if creds:
            env["AWS_DEFAULT_REGION"] = server.region
            env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
        cmd = [str(Path(sys.executable).parent / "aws"), "--endpoint-url", server.url, "--output", "json", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    created = json.loads(aws("iam", "create-user", "--user-name", "alice").stdout)["User"]
    assert created["Arn"].endswith(":user/alice")
    key = json.loads(aws("iam", "create-access-key", "--user-name", "alice").stdout)["AccessKey"]
    alice = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    denied = aws("iam", "list-users", creds=alice, check=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    assert "user/alice is not authorized to perform: iam:ListUsers" in denied.stderr

    aws("iam", "attach-user-policy", "--user-name", "alice", "--policy-arn", "arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    users = json.loads(aws("iam", "list-users", creds=alice).stdout)["Users"]
    assert [u["UserName"] for u in users] == ["alice"]

    me = json.loads(aws("sts", "get-caller-identity", creds=alice).stdout)
    assert me["Arn"] == created["Arn"] and me["UserId"] == created["UserId"]
