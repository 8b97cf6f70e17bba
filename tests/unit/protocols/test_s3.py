"""S3 over REST-XML: routing, virtual hosts, streamed bodies, S3's XML and error quirks."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import BodyStream, FileBody, Headers, HttpRequest
from silvereye.services.gateway.models import service_model
from silvereye.services.gateway.protocols import parser_for, serializer_for

from .gateway import InProcessGateway

UTC = dt.timezone.utc
MODIFIED = dt.datetime(2024, 5, 17, 8, 30, 15, tzinfo=UTC)
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
CHECKSUMS = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}


def s3_client(handlers, **config):
    gateway = InProcessGateway("s3", handlers)
    return gateway, gateway.client(**CHECKSUMS, **config)


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_create_bucket_with_location_in_either_addressing_style(style):
    gateway, s3 = s3_client({"CreateBucket": lambda p: {"Location": "/photos"}}, s3={"addressing_style": style})
    s3.create_bucket(Bucket="photos", CreateBucketConfiguration={"LocationConstraint": "lab-1"}, ACL="private")
    call = gateway.last
    assert call.request.host.startswith("photos.") == (style == "virtual")
    assert call.params == {
        "Bucket": "photos", "ACL": "private", "CreateBucketConfiguration": {"LocationConstraint": "lab-1"},
    }


def test_put_object_carries_metadata_headers_and_body():
    gateway, s3 = s3_client({"PutObject": lambda p: {"ETag": '"abc"', "VersionId": "v1"}})
    out = s3.put_object(Bucket="b", Key="dir/a b+c.txt", Body=b"hello", ContentType="text/plain",
                        Metadata={"owner": "alice"}, StorageClass="STANDARD")
    params = gateway.last.params
    assert params["Key"] == "dir/a b+c.txt"  # the greedy label keeps '/', decodes %20 and '+'
    assert params["Body"] == b"hello"
    assert params["Metadata"] == {"owner": "alice"}
    assert (params["ContentType"], params["StorageClass"]) == ("text/plain", "STANDARD")
    assert (out["ETag"], out["VersionId"]) == ('"abc"', "v1")
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-amz-id-2"]


def test_put_object_body_is_handed_over_as_a_stream_when_not_read():
    async def chunks():
        yield b"part one, "
        yield b"part two"

    request = HttpRequest("PUT", "/b/big.bin", headers=Headers({"content-length": "18"}), stream=BodyStream(chunks()))
    parser = parser_for(service_model("s3"), "rest-xml")
    assert parser.wants_stream(request)
    operation, params = parser.parse(request)
    assert operation.name == "PutObject"
    assert params["Body"] is request.stream
    assert not parser.wants_stream(HttpRequest("GET", "/b/big.bin"))


@pytest.mark.parametrize("kind", ["bytes", "file", "async-iterator"])
def test_get_object_streams_any_body_kind_with_its_headers(kind, tmp_path):
    data = b"0123456789" * 100
    path = tmp_path / "object"
    path.write_bytes(b"xx" + data + b"yy")

    async def chunks():
        for i in range(0, len(data), 256):
            yield data[i:i + 256]

    body = {"bytes": data, "file": FileBody(str(path), offset=2, length=len(data)), "async-iterator": chunks()}[kind]
    result = {"Body": body, "ContentLength": len(data), "ETag": '"e"', "LastModified": MODIFIED,
              "ContentType": "application/octet-stream", "Metadata": {"owner": "alice"}}
    gateway, s3 = s3_client({"GetObject": lambda p: result})
    response = serializer_for(service_model("s3"), "rest-xml").serialize(
        service_model("s3").operation_model("GetObject"), dict(result), "rid")
    assert response.body is body  # straight into the response, never buffered by the codec
    result["Body"] = {"bytes": data, "file": FileBody(str(path), offset=2, length=len(data)), "async-iterator": chunks()}[kind]
    out = s3.get_object(Bucket="b", Key="k", Range="bytes=0-999")
    assert gateway.last.params["Range"] == "bytes=0-999"
    assert out["Body"].read() == data
    assert (out["ContentLength"], out["LastModified"], out["Metadata"]) == (len(data), MODIFIED, {"owner": "alice"})


def test_list_objects_v2_routes_on_list_type_and_answers_list_bucket_result():
    result = {"Name": "b", "Prefix": "logs/", "KeyCount": 2, "MaxKeys": 2, "IsTruncated": False, "Delimiter": "/",
              "Contents": [{"Key": "logs/a", "Size": 3, "LastModified": MODIFIED, "ETag": '"1"', "StorageClass": "STANDARD"},
                           {"Key": "logs/b", "Size": 4, "LastModified": MODIFIED, "ETag": '"2"', "StorageClass": "STANDARD"}],
              "CommonPrefixes": [{"Prefix": "logs/2024/"}]}
    gateway, s3 = s3_client({"ListObjectsV2": lambda p: result, "ListObjects": lambda p: {"Name": "v1"}})
    out = s3.list_objects_v2(Bucket="b", Prefix="logs/", Delimiter="/", MaxKeys=2)
    assert gateway.last.operation == "ListObjectsV2"
    # boto3 asks for url-encoded keys on its own (and decodes them back).
    assert gateway.last.params == {"Bucket": "b", "Prefix": "logs/", "Delimiter": "/", "MaxKeys": 2, "EncodingType": "url"}
    assert [c["Key"] for c in out["Contents"]] == ["logs/a", "logs/b"]
    assert out["CommonPrefixes"] == [{"Prefix": "logs/2024/"}]
    assert s3.list_objects(Bucket="b")["Name"] == "v1"
    document = serializer_for(service_model("s3"), "rest-xml").serialize(
        service_model("s3").operation_model("ListObjectsV2"), result, "rid").body
    root = ET.fromstring(document)
    assert root.tag == S3_NS + "ListBucketResult"
    assert [e.tag for e in root.findall(S3_NS + "Contents")] == [S3_NS + "Contents"] * 2  # flattened, as S3 sends


def test_delete_objects_reads_the_xml_payload_and_writes_deleted_and_errors():
    gateway, s3 = s3_client({"DeleteObjects": lambda p: {
        "Deleted": [{"Key": "a"}], "Errors": [{"Key": "b", "Code": "AccessDenied", "Message": "Access Denied"}]}})
    out = s3.delete_objects(Bucket="b", Delete={"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "v2"}], "Quiet": False})
    assert gateway.last.params["Delete"] == {"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "v2"}], "Quiet": False}
    assert out["Deleted"] == [{"Key": "a"}]
    assert out["Errors"][0]["Code"] == "AccessDenied"


@pytest.mark.parametrize("call, operation", [
    (lambda s3: s3.copy_object(Bucket="b", Key="k", CopySource="src/obj"), "CopyObject"),
    (lambda s3: s3.upload_part(Bucket="b", Key="k", UploadId="u1", PartNumber=2, Body=b"x"), "UploadPart"),
    (lambda s3: s3.upload_part_copy(Bucket="b", Key="k", UploadId="u1", PartNumber=3, CopySource="src/o"), "UploadPartCopy"),
    (lambda s3: s3.put_object(Bucket="b", Key="k", Body=b"x"), "PutObject"),
    (lambda s3: s3.create_multipart_upload(Bucket="b", Key="k"), "CreateMultipartUpload"),
    (lambda s3: s3.complete_multipart_upload(Bucket="b", Key="k", UploadId="u1",
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"e"'}]}),
     "CompleteMultipartUpload"),
    (lambda s3: s3.list_parts(Bucket="b", Key="k", UploadId="u1"), "ListParts"),
    (lambda s3: s3.abort_multipart_upload(Bucket="b", Key="k", UploadId="u1"), "AbortMultipartUpload"),
    (lambda s3: s3.delete_object(Bucket="b", Key="k"), "DeleteObject"),
    (lambda s3: s3.list_buckets(), "ListBuckets"),
    (lambda s3: s3.get_bucket_lifecycle_configuration(Bucket="b"), "GetBucketLifecycleConfiguration"),
    (lambda s3: s3.get_bucket_versioning(Bucket="b"), "GetBucketVersioning"),
    (lambda s3: s3.head_bucket(Bucket="b"), "HeadBucket"),
])
def test_operations_sharing_a_path_are_told_apart(call, operation):
    gateway, s3 = s3_client({})
    gateway.handlers[operation] = lambda p: {}
    call(s3)
    assert gateway.last.operation == operation


def test_get_bucket_location_answers_the_region_as_the_root_text():
    gateway, s3 = s3_client({"GetBucketLocation": lambda p: {"LocationConstraint": "lab-1"}})
    assert s3.get_bucket_location(Bucket="b")["LocationConstraint"] == "lab-1"


def test_errors_use_s3s_envelope_with_extra_fields():
    def missing(params):
        raise ServiceError("NoSuchKey", "The specified key does not exist.", Key=params["Key"])

    gateway, s3 = s3_client({"GetObject": missing})
    with pytest.raises(s3.exceptions.NoSuchKey) as caught:
        s3.get_object(Bucket="b", Key="gone.txt")
    error = caught.value.response
    assert error["Error"] == {"Code": "NoSuchKey", "Message": "The specified key does not exist.", "Key": "gone.txt"}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404  # from the model's NoSuchKey shape
    assert error["ResponseMetadata"]["RequestId"] == gateway.last.request_id

    response = serializer_for(service_model("s3"), "rest-xml").serialize_error(
        ServiceError("NoSuchBucket", "The specified bucket does not exist", BucketName="b"), None, "rid-1")
    root = ET.fromstring(response.body)
    assert root.tag == "Error"
    assert [(e.tag, e.text) for e in root][:3] == [("Code", "NoSuchBucket"), ("Message", "The specified bucket does not exist"),
                                                   ("BucketName", "b")]
    assert root.findtext("RequestId") == "rid-1" and root.findtext("HostId")
    assert response.headers.get("x-amz-request-id") == "rid-1"


def test_head_errors_have_no_body():
    def missing(params):
        raise ServiceError("NoSuchKey", "The specified key does not exist.")

    gateway, s3 = s3_client({"HeadObject": missing})
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket="b", Key="gone")
    assert caught.value.response["Error"]["Code"] == "404"
    operation = service_model("s3").operation_model("HeadObject")
    response = serializer_for(service_model("s3"), "rest-xml").serialize_error(ServiceError("NoSuchKey", "x"), operation, "r")
    assert (response.status, response.body) == (404, b"")


def test_a_method_the_resource_does_not_take_is_405():
    parser = parser_for(service_model("s3"), "rest-xml")
    with pytest.raises(ServiceError) as caught:
        parser.parse(HttpRequest("POST", "/b/k"))
    assert (caught.value.code, caught.value.status) == ("MethodNotAllowed", 405)


def test_router_supplied_bucket_turns_a_virtual_host_path_into_a_key():
    parser = parser_for(service_model("s3"), "rest-xml")
    operation, params = parser.parse(HttpRequest("GET", "/photos/2024/cat%20one.jpg"), bucket="my-bucket")
    assert (operation.name, params) == ("GetObject", {"Bucket": "my-bucket", "Key": "photos/2024/cat one.jpg"})
    operation, params = parser.parse(HttpRequest("GET", "/", query_string="list-type=2&prefix=a"), bucket="my-bucket")
    assert (operation.name, params) == ("ListObjectsV2", {"Bucket": "my-bucket", "Prefix": "a"})


def test_acl_grantees_travel_as_xsi_type_attributes_both_ways():
    policy = {"Owner": {"ID": "owner-id", "DisplayName": "alice"},
              "Grants": [{"Grantee": {"ID": "owner-id", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"},
                         {"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers", "Type": "Group"},
                          "Permission": "READ"}]}
    gateway, s3 = s3_client({"GetBucketAcl": lambda p: policy, "PutBucketAcl": lambda p: {}})
    assert s3.get_bucket_acl(Bucket="b")["Grants"] == policy["Grants"]
    s3.put_bucket_acl(Bucket="b", AccessControlPolicy=policy)
    assert gateway.last.params["AccessControlPolicy"] == policy
    assert b'xsi:type="Group"' in gateway.last.request.body
