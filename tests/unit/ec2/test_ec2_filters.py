"""The filter engine and pagination every Describe operation shares, on plain values."""

from __future__ import annotations

import datetime as dt

import pytest

from silvereye.services.ec2 import filters, pagination
from silvereye.services.gateway.errors import ServiceError

ITEMS = [
    {"id": "i-1", "state": "running", "groups": ["sg-a", "sg-b"], "public": True, "tags": {"Name": "web-1", "env": "prod"}},
    {"id": "i-2", "state": "stopped", "groups": ["sg-b"], "public": False, "tags": {"Name": "web-2"}},
    {"id": "i-3", "state": "running", "groups": [], "public": False, "tags": {"Name": "db*1", "env": "dev"}},
]
SPEC = filters.FilterSpec(
    fields={"id": lambda x: x["id"], "state": lambda x: x["state"], "group": lambda x: x["groups"],
            "public": lambda x: x["public"]},
    tags=lambda x: x["tags"],
    never=frozenset({"ipv6-address"}),
)


def ids(raw):
    return [x["id"] for x in filters.apply(SPEC, ITEMS, raw)]


def test_values_are_alternatives_and_filters_all_apply():
    assert ids([{"Name": "state", "Values": ["running", "stopped"]}]) == ["i-1", "i-2", "i-3"]
    assert ids([{"Name": "state", "Values": ["running"]}, {"Name": "tag:env", "Values": ["prod"]}]) == ["i-1"]


def test_wildcards_escapes_and_case():
    assert ids([{"Name": "tag:Name", "Values": ["web-*"]}]) == ["i-1", "i-2"]
    assert ids([{"Name": "tag:Name", "Values": ["web-?"]}]) == ["i-1", "i-2"]
    assert ids([{"Name": "tag:Name", "Values": ["db\\*1"]}]) == ["i-3"]  # an escaped star is a star
    assert ids([{"Name": "tag:Name", "Values": ["WEB-*"]}]) == []  # values are case-sensitive
    assert ids([{"Name": "id", "Values": ["i-"]}]) == []  # whole-value matches only


def test_lists_booleans_tag_keys_and_values():
    assert ids([{"Name": "group", "Values": ["sg-b"]}]) == ["i-1", "i-2"]
    assert ids([{"Name": "public", "Values": ["true"]}]) == ["i-1"]
    assert ids([{"Name": "tag-key", "Values": ["env"]}]) == ["i-1", "i-3"]
    assert ids([{"Name": "tag-value", "Values": ["dev"]}]) == ["i-3"]
    assert ids([{"Name": "tag:missing", "Values": ["*"]}]) == []


def test_unknown_filters_fail_and_documented_impossible_ones_select_nothing():
    with pytest.raises(ServiceError) as e:
        ids([{"Name": "sate", "Values": ["running"]}])
    assert e.value.code == "InvalidParameterValue" and "'sate'" in e.value.message
    assert ids([{"Name": "ipv6-address", "Values": ["*"]}]) == []
    assert ids([{"Name": "state", "Values": []}]) == []


def test_times_read_as_ec2_writes_them():
    spec = filters.FilterSpec(fields={"t": lambda x: x})
    at = dt.datetime(2024, 5, 1, 12, 0, 3, tzinfo=dt.timezone.utc)
    assert filters.apply(spec, [at], [{"Name": "t", "Values": ["2024-05-01T12:*"]}]) == [at]


def test_pages_follow_the_sort_key_and_survive_deletions():
    items = [f"i-{n:02d}" for n in range(12)]
    page, token = pagination.page(items, {"MaxResults": 5}, key=lambda x: x)
    assert page == items[:5] and token
    items.remove("i-05")  # gone between two pages: the next page starts after i-04 all the same
    page2, token2 = pagination.page(items, {"MaxResults": 5, "NextToken": token}, key=lambda x: x)
    assert page2 == ["i-06", "i-07", "i-08", "i-09", "i-10"]
    page3, token3 = pagination.page(items, {"MaxResults": 5, "NextToken": token2}, key=lambda x: x)
    assert page3 == ["i-11"] and token3 is None
    assert pagination.page(items, {}, key=lambda x: x) == (sorted(items), None)


def test_page_size_bounds_and_bad_tokens():
    for bad in (4, 1001):
        with pytest.raises(ServiceError) as e:
            pagination.page([], {"MaxResults": bad}, key=str)
        assert e.value.code == "InvalidParameterValue"
    with pytest.raises(ServiceError) as e:
        pagination.page([], {"NextToken": "!!not-a-token"}, key=str)
    assert e.value.code == "InvalidPaginationToken"
