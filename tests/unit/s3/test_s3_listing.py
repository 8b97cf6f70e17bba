"""Listing: prefixes, delimiters, pages (marker, continuation token, start-after), owners, URL encoding."""

import pytest
from botocore.exceptions import ClientError

KEYS = ["a.txt", "docs/2023/q4.pdf", "docs/2024/q1.pdf", "docs/2024/q2.pdf", "docs/readme", "photos/cat.jpg",
        "photos/dog.jpg", "z", "ünïcødé"]


@pytest.fixture
def filled(s3, bucket):
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_v2_lists_every_key_in_utf8_byte_order(s3, filled):
    out = s3.list_objects_v2(Bucket=filled)
    assert [o["Key"] for o in out["Contents"]] == sorted(KEYS, key=lambda k: k.encode())
    assert out["KeyCount"] == len(KEYS) and not out["IsTruncated"]
    first = out["Contents"][0]
    assert first["Size"] == len(b"a.txt") and first["StorageClass"] == "STANDARD" and "Owner" not in first
    assert "Owner" in s3.list_objects_v2(Bucket=filled, FetchOwner=True)["Contents"][0]


def test_prefix_and_delimiter_roll_up_common_prefixes(s3, filled):
    top = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "z", "ünïcødé"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["docs/", "photos/"]
    assert top["KeyCount"] == 5
    docs = s3.list_objects_v2(Bucket=filled, Prefix="docs/", Delimiter="/")
    assert [o["Key"] for o in docs["Contents"]] == ["docs/readme"]
    assert [p["Prefix"] for p in docs["CommonPrefixes"]] == ["docs/2023/", "docs/2024/"]
    assert s3.list_objects_v2(Bucket=filled, Prefix="nothing/").get("Contents") is None


def test_v2_pages_with_continuation_tokens_through_common_prefixes(s3, filled):
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=filled, Delimiter="/", MaxKeys=2, **kw)
        seen += [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(seen) == sorted(["a.txt", "docs/", "photos/", "z", "ünïcødé"])
    assert len(seen) == len(set(seen))
    after = s3.list_objects_v2(Bucket=filled, StartAfter="docs/readme")
    assert [o["Key"] for o in after["Contents"]][0] == "photos/cat.jpg"
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=filled, ContinuationToken="garbage!")
    assert e.value.response["Error"]["Code"] == "InvalidArgument"


def test_v1_pages_with_markers(s3, filled):
    page = s3.list_objects(Bucket=filled, MaxKeys=3)
    assert [o["Key"] for o in page["Contents"]] == ["a.txt", "docs/2023/q4.pdf", "docs/2024/q1.pdf"]
    assert page["IsTruncated"] and "NextMarker" not in page  # S3 gives NextMarker only with a delimiter
    assert page["Contents"][0]["Owner"]["ID"]
    nxt = s3.list_objects(Bucket=filled, Marker=page["Contents"][-1]["Key"], MaxKeys=3)
    assert [o["Key"] for o in nxt["Contents"]] == ["docs/2024/q2.pdf", "docs/readme", "photos/cat.jpg"]
    rolled = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=2)
    assert rolled["NextMarker"] == "docs/"
    rest = s3.list_objects(Bucket=filled, Delimiter="/", Marker=rolled["NextMarker"])
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["photos/"]  # docs/ is not repeated


def test_max_keys_zero_and_limits(s3, filled):
    assert s3.list_objects_v2(Bucket=filled, MaxKeys=0).get("Contents") is None
    assert len(s3.list_objects_v2(Bucket=filled, MaxKeys=5000)["Contents"]) == len(KEYS)


def test_url_encoding_round_trips_awkward_keys(server, s3, bucket):
    awkward = ["a b+c", "percent%20", "new\nline", "amp&er=sand?"]
    for key in awkward:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]  # boto3 asks for url encoding
    assert sorted(listed) == sorted(awkward)
    import urllib.request

    raw = server.client("s3", None)  # anonymous: use a presigned URL to see the wire form
    url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket, "EncodingType": "url"})
    body = urllib.request.urlopen(url).read().decode()
    assert "<Key>a%20b%2Bc</Key>" in body and "<EncodingType>url</EncodingType>" in body
    assert raw is not None


def test_deleted_keys_are_not_listed(s3, filled):
    s3.delete_object(Bucket=filled, Key="z")
    assert "z" not in [o["Key"] for o in s3.list_objects_v2(Bucket=filled)["Contents"]]


def test_a_thousand_and_more_keys_page_correctly(s3, bucket):
    keys = [f"many/{i:05d}" for i in range(1205)]
    for i in range(0, len(keys), 1000):
        for key in keys[i:i + 1000]:
            s3.put_object(Bucket=bucket, Key=key, Body=b"")
    paginator = s3.get_paginator("list_objects_v2")
    found = [o["Key"] for page in paginator.paginate(Bucket=bucket, Prefix="many/") for o in page.get("Contents", [])]
    assert found == keys
