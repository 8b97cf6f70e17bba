"""Bad input gets the code the real service sends, before any handler runs.

Clients are built with ``parameter_validation=False`` so boto3 sends what a
careless or foreign client would.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.http import Headers, HttpRequest
from silvereye.services.gateway.models import service_model
from silvereye.services.gateway.protocols import parser_for

from .gateway import InProcessGateway


def rejected(service, call, *, protocol=None, **config):
    """Make the call; return (code, message, status) of the error, asserting no handler ran."""
    gateway = InProcessGateway(service, {})
    client = gateway.client(protocol=protocol, parameter_validation=False, **config)
    with pytest.raises(ClientError) as caught:
        call(client)
    response = caught.value.response
    assert gateway.last.params == {}, "the request reached a handler"
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- Coral services over Query: ValidationError with AWS's message ------------------


def test_iam_missing_required_member():
    assert rejected("iam", lambda iam: iam.create_user()) == (
        "ValidationError",
        "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null",
        400,
    )


def test_iam_name_too_long():
    code, message, status = rejected("iam", lambda iam: iam.create_user(UserName="u" * 65))
    assert (code, status) == ("ValidationError", 400)
    assert message == ("1 validation error detected: Value '" + "u" * 65 + "' at 'userName' failed to satisfy "
                       "constraint: Member must have length less than or equal to 64")


def test_iam_wrong_enum_and_bad_pattern_are_reported_together():
    code, message, _ = rejected("iam", lambda iam: iam.update_access_key(AccessKeyId="AKIA-NOT-WORDS!!", Status="Enabled"))
    assert code == "ValidationError"
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'AKIA-NOT-WORDS!!' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+" in message
    assert "Value 'Enabled' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive, Expired]" in message


def test_sts_duration_out_of_range():
    _, message, _ = rejected("sts", lambda sts: sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r",
                                                                RoleSessionName="s1", DurationSeconds=60))
    assert "Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900" in message


def test_sensitive_values_are_not_echoed():
    _, message, _ = rejected("iam", lambda iam: iam.create_login_profile(UserName="alice", Password="p" * 129))
    assert message == ("1 validation error detected: Value at 'password' failed to satisfy constraint: "
                       "Member must have length less than or equal to 128")


def test_nested_members_are_named_by_their_path():
    _, message, _ = rejected("autoscaling", lambda asg: asg.create_auto_scaling_group(
        AutoScalingGroupName="g", MinSize=1, MaxSize=2, Tags=[{"Key": "k"}, {"Value": "v"}]))
    assert "Value null at 'tags.2.member.key' failed to satisfy constraint: Member must not be null" in message


@pytest.mark.parametrize("service, call", [
    ("elb", lambda c: c.create_load_balancer(LoadBalancerName="web")),
    ("cloudformation", lambda c: c.create_stack(StackName="s", OnFailure="EXPLODE")),
    ("autoscaling", lambda c: c.create_auto_scaling_group(AutoScalingGroupName="g")),
])
def test_other_query_services_say_validation_error_too(service, call):
    assert rejected(service, call)[0] == "ValidationError"


def test_a_query_value_of_the_wrong_type():
    request = HttpRequest("POST", "/", headers=Headers({"content-type": "application/x-www-form-urlencoded"}),
                          body=b"Action=ListUsers&Version=2010-05-08&MaxItems=many")
    with pytest.raises(ServiceError) as caught:
        parser_for(service_model("iam"), "query").parse(request)
    assert (caught.value.code, caught.value.status) == ("ValidationError", 400)
    assert "'maxItems'" in caught.value.message


# -- EC2: MissingParameter / InvalidParameterValue ---------------------------------


def test_ec2_missing_parameter():
    assert rejected("ec2", lambda ec2: ec2.run_instances(ImageId="emi-1", MaxCount=1)) == (
        "MissingParameter", "The request must contain the parameter MinCount", 400)


def test_ec2_invalid_values():
    code, message, _ = rejected("ec2", lambda ec2: ec2.describe_vpcs(MaxResults=1))
    assert code == "InvalidParameterValue"
    assert message.startswith("Value (1) for parameter MaxResults is invalid.")
    assert rejected("ec2", lambda ec2: ec2.run_instances(ImageId="emi-1", MinCount=1, MaxCount=1,
                                                         InstanceType="m1.enormous"))[0] == "InvalidParameterValue"


def test_ec2_value_of_the_wrong_type():
    request = HttpRequest("POST", "/", headers=Headers({"content-type": "application/x-www-form-urlencoded"}),
                          body=b"Action=DescribeVpcs&Version=2016-11-15&MaxResults=ten")
    with pytest.raises(ServiceError) as caught:
        parser_for(service_model("ec2"), "ec2").parse(request)
    assert caught.value.code == "InvalidParameterValue" and "MaxResults" in caught.value.message


# -- CloudWatch: the same codes in all three protocols ---------------------------------


@pytest.mark.parametrize("protocol", [None, "smithy-rpc-v2-cbor", "query"])
def test_cloudwatch_missing_parameter_in_every_protocol(protocol):
    code, message, status = rejected("cloudwatch", lambda cw: cw.put_metric_data(MetricData=[{"MetricName": "m", "Value": 1.0}]),
                                     protocol=protocol)
    assert (code, message, status) == ("MissingParameter", "The parameter Namespace is required.", 400)


@pytest.mark.parametrize("protocol", [None, "smithy-rpc-v2-cbor", "query"])
def test_cloudwatch_constraint_violation_in_every_protocol(protocol):
    code, message, _ = rejected("cloudwatch", lambda cw: cw.describe_alarms(StateValue="ON_FIRE", MaxRecords=500),
                                protocol=protocol)
    assert code == "ValidationError"
    assert "Member must satisfy enum value set: [OK, ALARM, INSUFFICIENT_DATA]" in message
    assert "Value '500' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100" in message


def test_malformed_json_is_a_serialization_exception():
    headers = Headers({"x-amz-target": "GraniteServiceVersion20100801.DescribeAlarms",
                       "content-type": "application/x-amz-json-1.0"})
    parser = parser_for(service_model("cloudwatch"), "json")
    for body in (b"{not json", b'{"MaxRecords": "ten"}', b"[1, 2]"):
        with pytest.raises(ServiceError) as caught:
            parser.parse(HttpRequest("POST", "/", headers=headers, body=body))
        assert (caught.value.code, caught.value.status) == ("SerializationException", 400)


# -- S3: its own codes ------------------------------------------------------------------


def _s3_parse(method, path, body=b"", query="", headers=None):
    request = HttpRequest(method, path, query_string=query, headers=Headers(headers or {}), body=body)
    return parser_for(service_model("s3"), "rest-xml").parse(request)


@pytest.mark.parametrize("body, code", [
    (b"", "MissingRequestBodyError"),
    (b"<VersioningConfiguration><Status>Enabled</Status>", "MalformedXML"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><VersioningConfiguration><Status>&a;</Status></VersioningConfiguration>',
     "MalformedXML"),
    (b"<VersioningConfiguration><MfaDelete>Enabled</MfaDelete><Status>Enabled</Status></VersioningConfiguration>", None),
])
def test_s3_body_errors(body, code):
    if code is None:
        operation, params = _s3_parse("PUT", "/b", body, "versioning")
        assert params["VersioningConfiguration"] == {"MFADelete": "Enabled", "Status": "Enabled"}
        return
    with pytest.raises(ServiceError) as caught:
        _s3_parse("PUT", "/b", body, "versioning")
    assert (caught.value.code, caught.value.status) == (code, 400)


def test_s3_bad_header_value_is_invalid_argument():
    with pytest.raises(ServiceError) as caught:
        _s3_parse("GET", "/b/k", headers={"If-Modified-Since": "last tuesday"})
    error = caught.value
    assert (error.code, error.fields["ArgumentName"], error.fields["ArgumentValue"]) == (
        "InvalidArgument", "If-Modified-Since", "last tuesday")


def test_s3_bad_query_value_is_invalid_argument():
    with pytest.raises(ServiceError) as caught:
        _s3_parse("GET", "/b", query="max-keys=lots")
    assert (caught.value.code, caught.value.fields["ArgumentName"]) == ("InvalidArgument", "max-keys")


def test_absurdly_deep_nesting_is_refused_not_crashed():
    headers = Headers({"x-amz-target": "GraniteServiceVersion20100801.DescribeAlarms",
                       "content-type": "application/x-amz-json-1.0"})
    body = b'{"AlarmNames": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ServiceError) as caught:
        parser_for(service_model("cloudwatch"), "json").parse(HttpRequest("POST", "/", headers=headers, body=body))
    assert caught.value.code == "SerializationException"
