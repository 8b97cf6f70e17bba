"""Error envelopes: each protocol's own, read back by boto3 with the right code, message, status and request id."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import cbor2
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from silvereye.services.gateway.errors import ServiceError, internal_error, not_implemented
from silvereye.services.gateway.http import Headers, HttpRequest
from silvereye.services.gateway.models import service_model
from silvereye.services.gateway.protocols import parser_for, serializer_for

from .gateway import InProcessGateway


def raising(error):
    def handler(params):
        raise error

    return handler


def test_iam_error_is_a_query_error_response_boto3_maps_to_its_exception():
    gateway = InProcessGateway("iam", {"GetUser": raising(ServiceError("NoSuchEntity", "The user with name bob cannot be found."))})
    iam = gateway.client()
    with pytest.raises(iam.exceptions.NoSuchEntityException) as caught:
        iam.get_user(UserName="bob")
    response = caught.value.response
    assert response["Error"] == {"Type": "Sender", "Code": "NoSuchEntity", "Message": "The user with name bob cannot be found."}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404  # NoSuchEntityException's status in the model
    assert response["ResponseMetadata"]["RequestId"] == gateway.last.request_id


def test_query_envelope_is_exactly_awss():
    error = ServiceError("EntityAlreadyExists", "User with name alice already exists.", 409)
    response = serializer_for(service_model("iam"), "query").serialize_error(error, None, "rid-7")
    root = ET.fromstring(response.body)
    ns = "{https://iam.amazonaws.com/doc/2010-05-08/}"
    assert root.tag == ns + "ErrorResponse"
    assert [(e.tag, e.text) for e in root.find(ns + "Error")] == [
        (ns + "Type", "Sender"), (ns + "Code", "EntityAlreadyExists"), (ns + "Message", "User with name alice already exists.")]
    assert root.findtext(ns + "RequestId") == "rid-7"
    assert (response.status, response.headers.get("content-type")) == (409, "text/xml")


def test_server_faults_say_receiver_and_500():
    gateway = InProcessGateway("sts", {"GetCallerIdentity": raising(internal_error())})
    with pytest.raises(ClientError) as caught:
        gateway.client().get_caller_identity()
    response = caught.value.response
    assert (response["Error"]["Type"], response["Error"]["Code"]) == ("Receiver", "InternalError")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_ec2_error_uses_the_response_errors_envelope():
    gateway = InProcessGateway("ec2", {"TerminateInstances": raising(
        ServiceError("InvalidInstanceID.NotFound", "The instance ID 'i-1' does not exist"))})
    with pytest.raises(ClientError) as caught:
        gateway.client().terminate_instances(InstanceIds=["i-1"])
    response = caught.value.response
    assert response["Error"] == {"Code": "InvalidInstanceID.NotFound", "Message": "The instance ID 'i-1' does not exist"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RequestId"] == gateway.last.request_id

    body = serializer_for(service_model("ec2"), "ec2").serialize_error(ServiceError("AuthFailure", "no", 401), None, "r-9").body
    root = ET.fromstring(body)
    assert root.tag == "Response"
    assert root.findtext("Errors/Error/Code") == "AuthFailure"
    assert root.findtext("RequestID") == "r-9"


@pytest.mark.parametrize("protocol", [None, "smithy-rpc-v2-cbor", "query"])
def test_cloudwatch_errors_carry_the_query_code_in_every_protocol(protocol):
    gateway = InProcessGateway("cloudwatch", {"GetDashboard": raising(
        ServiceError("ResourceNotFound", "Dashboard named 'ops' does not exist."))})
    cloudwatch = gateway.client(protocol=protocol)
    with pytest.raises(ClientError) as caught:
        cloudwatch.get_dashboard(DashboardName="ops")
    response = caught.value.response
    assert response["Error"]["Code"] == "ResourceNotFound"
    assert response["Error"]["Message"] == "Dashboard named 'ops' does not exist."
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["ResponseMetadata"]["RequestId"] == gateway.last.request_id


def test_query_compatible_json_error_names_the_shape_and_the_query_code():
    error = ServiceError("InvalidParameterValue", "The value -1 for parameter Period is invalid.")
    json_response = serializer_for(service_model("cloudwatch"), "json").serialize_error(error, None, "rid")
    assert json.loads(json_response.body) == {
        "__type": "InvalidParameterValueException", "message": "The value -1 for parameter Period is invalid."}
    assert json_response.headers.get("x-amzn-query-error") == "InvalidParameterValue;Sender"
    assert json_response.headers.get("x-amzn-requestid") == "rid"
    assert json_response.headers.get("content-type") == "application/x-amz-json-1.0"

    cbor_response = serializer_for(service_model("cloudwatch"), "smithy-rpc-v2-cbor").serialize_error(error, None, "rid")
    assert cbor2.loads(cbor_response.body)["__type"] == "InvalidParameterValueException"
    assert cbor_response.headers.get("smithy-protocol") == "rpc-v2-cbor"
    assert cbor_response.headers.get("x-amzn-query-error") == "InvalidParameterValue;Sender"


def _form(action, **params):
    body = "&".join([f"Action={action}", "Version=x"] + [f"{k}={v}" for k, v in params.items()])
    return HttpRequest("POST", "/", headers=Headers({"content-type": "application/x-www-form-urlencoded"}), body=body.encode())


@pytest.mark.parametrize("service, protocol, http_request, code, fragment", [
    ("iam", "query", _form("CreateUsr"), "InvalidAction", "Could not find operation CreateUsr for version 2010-05-08"),
    ("ec2", "ec2", _form("RunInstance"), "InvalidAction", "The action RunInstance is not valid for this web service."),
    ("iam", "query", HttpRequest("POST", "/", body=b"UserName=x"), "MissingAction", "Action"),
    ("cloudwatch", "json", HttpRequest("POST", "/", headers=Headers({
        "x-amz-target": "GraniteServiceVersion20100801.PutMetricDatum", "content-type": "application/x-amz-json-1.0"}), body=b"{}"),
     "UnknownOperationException", "PutMetricDatum"),
    ("cloudwatch", "smithy-rpc-v2-cbor", HttpRequest("POST", "/service/GraniteServiceVersion20100801/operation/Nope",
                                                     headers=Headers({"smithy-protocol": "rpc-v2-cbor"})),
     "UnknownOperationException", "Nope"),
    ("s3", "rest-xml", HttpRequest("PATCH", "/bucket"), "MethodNotAllowed", "not allowed"),
])
def test_unknown_actions_get_the_protocols_own_error(service, protocol, http_request, code, fragment):
    with pytest.raises(ServiceError) as caught:
        parser_for(service_model(service), protocol).parse(http_request)
    assert caught.value.code == code and fragment in caught.value.message
    assert caught.value.status in (400, 405)


@pytest.mark.parametrize("service, operation", [
    ("iam", "ListUsers"), ("ec2", "DescribeVpcs"), ("s3", "ListBuckets"), ("cloudwatch", "ListDashboards")])
def test_not_implemented_is_a_clear_501_in_every_protocol(service, operation):
    gateway = InProcessGateway(service, {operation: raising(not_implemented(service, operation))})
    with pytest.raises(ClientError) as caught:
        getattr(gateway.client(), xform_name(operation))()
    response = caught.value.response
    assert response["Error"]["Code"] == "NotImplemented"
    assert f"The {operation} operation of {service} is not implemented" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
