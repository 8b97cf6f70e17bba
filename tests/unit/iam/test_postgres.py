"""The same IAM on PostgreSQL: the store several frontends share."""

import pytest

import silvereye.services.iam  # noqa: F401 - registers IAM's migrations
from silvereye.store import open_store
from tests.fixtures.postgres import postgres_server
from tests.unit.iam.harness import ALLOW_ALL, Harness, fails


@pytest.fixture(scope="module")
def pg():
    with postgres_server() as url:
        store = open_store(url)
        yield store
        store.close()


def test_users_groups_and_pages_on_postgresql(pg):
    h = Harness(pg, "pg-one")
    for name in ("Carol", "alice", "Bob"):
        h.call("CreateUser", UserName=name)
        h.call("AddUserToGroup", GroupName=h.call("CreateGroup", GroupName=f"g-{name}")["Group"]["GroupName"],
               UserName=name)
    with fails("EntityAlreadyExists", 409):
        h.call("CreateUser", UserName="ALICE")
    first = h.call("ListUsers", MaxItems=2)
    rest = h.call("ListUsers", Marker=first["Marker"])
    assert [u["UserName"] for u in first["Users"] + rest["Users"]] == ["alice", "Bob", "Carol"]
    with fails("DeleteConflict", 409):
        h.call("DeleteUser", UserName="bob")


def test_policies_and_sessions_on_postgresql(pg):
    h = Harness(pg, "pg-two")
    alice = h.user("alice")
    with fails("AccessDenied", 403):
        h.call("ListUsers", as_=alice)
    h.call("PutUserPolicy", UserName="alice", PolicyName="all", PolicyDocument=ALLOW_ALL)
    h.call("ListUsers", as_=alice)
    creds = h.call("GetSessionToken", as_=alice)["Credentials"]
    assert h.resolver.lookup(creds["AccessKeyId"]).expires_at == creds["Expiration"]
    summary = h.call("GetAccountSummary")["SummaryMap"]
    assert summary["Users"] == 1
