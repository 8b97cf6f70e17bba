"""Two frontends sharing one PostgreSQL database: one cloud, one admin, changes seen within seconds."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.fixtures.postgres import postgres_server
from tests.fixtures.server import RunningServer

pytestmark = pytest.mark.integration


@pytest.fixture
def frontends(tmp_path):
    with postgres_server() as url:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = RunningServer(tmp_path / "a", store_url=url).start()
        b = RunningServer(tmp_path / "b", store_url=url).start()
        try:
            yield a, b
        finally:
            a.kill()
            b.kill()


def test_two_frontends_one_cloud(frontends):
    a, b = frontends
    assert a.access_key == b.access_key  # the admin account was created once

    a.client("iam").create_user(UserName="shared")
    key = a.client("iam").create_access_key(UserName="shared")["AccessKey"]
    assert "shared" in [u["UserName"] for u in b.client("iam").list_users()["Users"]]
    on_b = b.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:  # the new key signs on b at once; the user has no policy yet
        on_b.list_users()
    assert e.value.response["Error"]["Code"] == "AccessDenied"

    a.client("iam").put_user_policy(UserName="shared", PolicyName="list", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]}))
    deadline = time.time() + 10  # b learns of a's change when its cache entry expires (five seconds)
    while True:
        try:
            on_b.list_users()
            break
        except ClientError:
            assert time.time() < deadline, "frontend b never saw the policy written through frontend a"
            time.sleep(0.5)
