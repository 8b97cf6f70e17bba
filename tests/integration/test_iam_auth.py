"""The negative paths: bad signatures, unknown and disabled keys, expired sessions, denials."""

import datetime as dt
import json
import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

LIST_USERS = "Action=ListUsers&Version=2010-05-08"


def code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def signed_post(server, body: str, key: str, secret: str, *, tamper: str | None = None) -> tuple[int, str]:
    """A SigV4-signed IAM Query request, optionally with its body changed after signing: (status, body)."""
    req = AWSRequest(method="POST", url=server.url + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(key, secret), "iam", server.region).add_auth(req)
    sent = (tamper if tamper is not None else body).encode()
    headers = {k: v for k, v in req.headers.items() if k.lower() != "content-length"}
    try:
        with urllib.request.urlopen(urllib.request.Request(server.url + "/", data=sent, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def alice(shared_server):
    iam = shared_server.client("iam")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    return {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}


def test_a_good_signature_passes_and_a_wrong_secret_does_not(shared_server):
    status, text = signed_post(shared_server, LIST_USERS, shared_server.access_key, shared_server.secret_key)
    assert status == 200 and "<ListUsersResponse" in text
    status, text = signed_post(shared_server, LIST_USERS, shared_server.access_key, "x" * 40)
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text


def test_a_tampered_body_is_refused(shared_server):
    status, text = signed_post(shared_server, LIST_USERS, shared_server.access_key, shared_server.secret_key,
                               tamper="Action=DeleteUser&Version=2010-05-08&UserName=alice")
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text


def test_unknown_and_deactivated_keys(shared_server, alice):
    with pytest.raises(ClientError) as e:
        shared_server.client("sts", access_key="AKIAUNKNOWNUNKNOWN00", secret_key="y" * 40).get_caller_identity()
    assert code(e) == "InvalidClientTokenId"
    iam = shared_server.client("iam")
    iam.create_user(UserName="dora")
    key = iam.create_access_key(UserName="dora")["AccessKey"]
    dora = shared_server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert dora.get_caller_identity()["Arn"].endswith(":user/dora")
    iam.update_access_key(UserName="dora", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as e:
        dora.get_caller_identity()
    assert code(e) == "InvalidClientTokenId"
    last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert last["ServiceName"] == "sts" and last["Region"] == shared_server.region


def test_clock_skew_beyond_fifteen_minutes(shared_server, monkeypatch):
    late = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=20)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *a, **k: late)
    with pytest.raises(ClientError) as e:
        shared_server.client("iam").list_users()
    assert code(e) == "SignatureDoesNotMatch" and "Signature expired" in e.value.response["Error"]["Message"]


def test_denied_until_allowed_and_an_explicit_deny_wins(shared_server, alice):
    iam, mine = shared_server.client("iam"), shared_server.client("iam", **alice)
    with pytest.raises(ClientError) as e:
        mine.list_groups()
    assert code(e) == "AccessDenied" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    iam.put_user_policy(UserName="alice", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))
    mine.list_groups()  # at once: the policy cache is invalidated by the write
    iam.put_user_policy(UserName="alice", PolicyName="no-groups", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:*Group*", "Resource": "*"}]}))
    with pytest.raises(ClientError) as e:
        mine.list_groups()
    assert code(e) == "AccessDenied" and "explicit deny" in e.value.response["Error"]["Message"]
    mine.list_users()


def test_other_accounts_are_out_of_reach(shared_server):
    made = shared_server.cli("account", "create", "tenant-b").stdout
    key = made.split("AWS_ACCESS_KEY_ID=")[1].split()[0].strip("'")
    secret = made.split("AWS_SECRET_ACCESS_KEY=")[1].split()[0].strip("'")
    theirs = shared_server.client("iam", access_key=key, secret_key=secret)
    assert theirs.list_users()["Users"] == []  # admin's users are not theirs to see
    ours = shared_server.client("iam")
    arn = ours.create_policy(PolicyName="ours-only", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))["Policy"]["Arn"]
    with pytest.raises(ClientError) as e:
        theirs.get_policy(PolicyArn=arn)
    assert code(e) == "AccessDenied"


def test_session_credentials_expire(server):
    sts = server.client("sts")
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    session = server.client("sts", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                            session_token=creds["SessionToken"])
    assert session.get_caller_identity()["Arn"].endswith(":root")
    with pytest.raises(ClientError) as e:  # the token is part of the credential
        server.client("sts", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                      session_token="forged" + creds["SessionToken"][6:]).get_caller_identity()
    assert code(e) == "InvalidClientTokenId"
    # Fifteen minutes pass: the session's expiry moves into the past.
    engine = sa.create_engine(f"sqlite:///{server.data_dir}/silvereye.db")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE iam_sessions SET expires = :t WHERE access_key_id = :k"),
                     {"t": dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1), "k": creds["AccessKeyId"]})
    engine.dispose()
    time.sleep(6)  # the server's credential cache lives five seconds
    with pytest.raises(ClientError) as e:
        session.get_caller_identity()
    assert code(e) == "ExpiredToken"
