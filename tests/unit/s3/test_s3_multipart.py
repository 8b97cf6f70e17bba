"""Multipart uploads: the happy path with AWS's ETag, S3's rules for completing, copies of ranges, listings."""

import base64
import hashlib
import os
import zlib

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def upload(s3, bucket, key, parts, **create):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for i, data in enumerate(parts, 1):
        out = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i, Body=data)
        done.append({"PartNumber": i, "ETag": out["ETag"], **{k: v for k, v in out.items() if k.startswith("ChecksumCRC")}})
    return up, done


def test_upload_complete_and_read_back_with_the_multipart_etag(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"]
    up, done = upload(s3, bucket, "mp", parts, ContentType="application/x-test", Metadata={"m": "1"})
    out = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-3"
    assert out["ETag"] == f'"{expected}"'
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts)
    assert (got["ContentType"], got["Metadata"]) == ("application/x-test", {"m": "1"})
    part2 = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert part2["PartsCount"] == 3 and part2["Body"].read() == parts[1]
    across = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MiB - 2}-{5 * MiB + 1}")["Body"].read()
    assert across == parts[0][-2:] + parts[1][:2]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads") is None


def test_parts_smaller_than_5_mib_only_at_the_end(s3, bucket):
    up, done = upload(s3, bucket, "small", [b"a" * 100, b"b" * 100])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=up, MultipartUpload={"Parts": done})
    assert code(e) == "EntityTooSmall"
    assert e.value.response["Error"]["MinSizeAllowed"] == str(5 * MiB)
    only = s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=up, MultipartUpload={"Parts": done[:1]})
    assert only["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"a" * 100


def test_part_order_and_unknown_parts(s3, bucket):
    up, done = upload(s3, bucket, "order", [os.urandom(5 * MiB), b"end"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=up, MultipartUpload={"Parts": done[::-1]})
    assert code(e) == "InvalidPartOrder"
    wrong = [done[0], {"PartNumber": 2, "ETag": '"00000000000000000000000000000000"'}]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=up, MultipartUpload={"Parts": wrong})
    assert code(e) == "InvalidPart" and e.value.response["Error"]["PartNumber"] == "2"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=up,
                                     MultipartUpload={"Parts": done + [{"PartNumber": 3, "ETag": done[0]["ETag"]}]})
    assert code(e) == "InvalidPart"
    s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=up, MultipartUpload={"Parts": done})
    with pytest.raises(ClientError) as e:  # completed: the upload is gone
        s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=up, MultipartUpload={"Parts": done})
    assert code(e) == "NoSuchUpload"


def test_part_numbers_must_be_1_to_10000(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="n")["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="n", UploadId=up, PartNumber=10001, Body=b"x")
    assert code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="n", UploadId="not-an-upload", PartNumber=1, Body=b"x")
    assert code(e) == "NoSuchUpload"


def test_abort_frees_the_parts(server, s3, bucket):
    from silvereye.services.s3.blobstore import for_config

    blobs = for_config(server.config)
    before = blobs.usage()
    up, _ = upload(s3, bucket, "aborted", [b"x" * 1000, b"y" * 1000])
    assert blobs.usage() == before + 2000
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=up)
    assert blobs.usage() == before
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=up)
    assert code(e) == "NoSuchUpload"


def test_reuploading_a_part_replaces_it_and_unused_parts_are_freed(server, s3, bucket):
    from silvereye.services.s3.blobstore import for_config

    blobs = for_config(server.config)
    before = blobs.usage()
    up, done = upload(s3, bucket, "re", [b"first", b"unused"])
    again = s3.upload_part(Bucket=bucket, Key="re", UploadId=up, PartNumber=1, Body=b"second")
    assert blobs.usage() == before + len(b"second") + len(b"unused")
    s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": again["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"second"
    assert blobs.usage() == before + len(b"second")


def test_list_parts_and_uploads_page(s3, bucket):
    up, _ = upload(s3, bucket, "paged", [b"1", b"2", b"3"])
    first = s3.list_parts(Bucket=bucket, Key="paged", UploadId=up, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2] and first["IsTruncated"]
    rest = s3.list_parts(Bucket=bucket, Key="paged", UploadId=up, PartNumberMarker=first["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and not rest["IsTruncated"]
    assert first["Initiator"]["ID"] and first["Owner"]["ID"]
    ids = [s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"] for k in ("a/1", "a/2", "b")]
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert [u["Key"] for u in page["Uploads"]] == ["a/1", "a/2"] and page["IsTruncated"]
    nxt = s3.list_multipart_uploads(Bucket=bucket, KeyMarker=page["NextKeyMarker"],
                                    UploadIdMarker=page["NextUploadIdMarker"])
    assert [u["Key"] for u in nxt["Uploads"]] == ["b", "paged"]
    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/"]
    assert ids[2] in [u["UploadId"] for u in nxt["Uploads"]]


def test_upload_part_copy_takes_ranges_of_other_objects(s3, bucket):
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    up = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    assert p1["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(source[: 5 * MiB]).hexdigest()
    p2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=2,
                             CopySource=f"{bucket}/source", CopySourceRange="bytes=100-199")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=3,
                            CopySource=f"{bucket}/source", CopySourceRange=f"bytes=0-{6 * MiB}")
    assert code(e) == "InvalidArgument"
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=up, MultipartUpload={"Parts": parts})
    s3.delete_object(Bucket=bucket, Key="source")  # the copy shares the source's bytes: it must outlive it
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[: 5 * MiB] + source[100:200]


def test_composite_and_full_object_checksums(s3, bucket):
    parts = [os.urandom(5 * MiB), b"last part"]
    crcs = [zlib.crc32(p).to_bytes(4, "big") for p in parts]
    up, done = upload(s3, bucket, "composite", parts, ChecksumAlgorithm="CRC32")
    assert [d["ChecksumCRC32"] for d in done] == [base64.b64encode(c).decode() for c in crcs]
    out = s3.complete_multipart_upload(Bucket=bucket, Key="composite", UploadId=up, MultipartUpload={"Parts": done})
    composite = base64.b64encode(zlib.crc32(b"".join(crcs)).to_bytes(4, "big")).decode() + "-2"
    assert out["ChecksumCRC32"] == composite and out["ChecksumType"] == "COMPOSITE"
    missing = [{"PartNumber": d["PartNumber"], "ETag": d["ETag"]} for d in done]
    up2, done2 = upload(s3, bucket, "full", parts, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=up2, MultipartUpload={"Parts": missing})
    assert code(e) == "InvalidRequest"
    out = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=up2, MultipartUpload={"Parts": done2})
    assert out["ChecksumCRC32"] == base64.b64encode(zlib.crc32(b"".join(parts)).to_bytes(4, "big")).decode()
    assert out["ChecksumType"] == "FULL_OBJECT"


def test_boto3_transfers_use_multipart_both_ways(server, s3, bucket, tmp_path):
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(23 * MiB + 7)
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "transfer.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="transfer.bin")
    assert head["ETag"].endswith('-3"') and head["ContentLength"] == len(data)
    s3.download_file(bucket, "transfer.bin", str(dst), Config=config)
    assert dst.read_bytes() == data
