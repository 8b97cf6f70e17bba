"""Round trips on the models silvereye serves: a boto3 client calls, our codecs answer.

Each case: the client sends ``params``; our parser must hand the handler
exactly those params; the handler returns ``result``; our serializer must
make the client return exactly that result (with our request id).
"""

from __future__ import annotations

import datetime as dt
import gzip

import pytest
from botocore import xform_name

from .gateway import InProcessGateway
from .vectorlib import canonical

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 17, 8, 30, 15, tzinfo=UTC)
T1 = dt.datetime(2024, 5, 17, 9, 45, 0, 250000, tzinfo=UTC)

# Members botocore may add on its own (checksums, idempotency tokens): not part of what the user sent.
CLIENT_ADDED = {"ChecksumAlgorithm", "ContentMD5", "ChecksumCRC32", "ClientToken", "ExpectedBucketOwner"}


def round_trip(service, operation, params, result, **client_options):
    gateway = InProcessGateway(service, {operation: lambda p: result})
    client = gateway.client(**client_options)
    out = getattr(client, xform_name(operation))(**params)
    model = gateway.model.operation_model(operation)

    call = gateway.last
    assert call.operation == operation
    sent = canonical(model.input_shape, params) if params else {}
    received = canonical(model.input_shape, call.params) if call.params else {}
    assert {k: v for k, v in received.items() if k in sent} == sent
    assert set(received) - set(sent) <= CLIENT_ADDED

    metadata = out.pop("ResponseMetadata")
    # botocore's CBOR parser skips RequestId for an operation without output; the header is there.
    assert metadata.get("RequestId", metadata["HTTPHeaders"].get("x-amzn-requestid")) == call.request_id
    if model.output_shape is not None:
        assert canonical(model.output_shape, out) == canonical(model.output_shape, result)
    return gateway, out


CASES = [
    # -- IAM (query) ---------------------------------------------------------
    ("iam", "CreateUser",
     {"UserName": "alice", "Path": "/team/", "Tags": [{"Key": "dept", "Value": "ops"}, {"Key": "cc", "Value": "42"}]},
     {"User": {"Path": "/team/", "UserName": "alice", "UserId": "AIDAEXAMPLE", "Arn": "arn:aws:iam::123456789012:user/team/alice",
               "CreateDate": T0, "Tags": [{"Key": "dept", "Value": "ops"}]}}),
    ("iam", "ListUsers", {"PathPrefix": "/team/", "MaxItems": 2},
     {"Users": [{"Path": "/", "UserName": u, "UserId": f"AIDA{u.upper()}", "Arn": f"arn:aws:iam::123456789012:user/{u}",
                 "CreateDate": T0, "PasswordLastUsed": T1} for u in ("alice", "bob")],
      "IsTruncated": True, "Marker": "opaque-marker"}),
    ("iam", "PutUserPolicy",
     {"UserName": "alice", "PolicyName": "read", "PolicyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}'},
     None),
    ("iam", "GetAccountSummary", {}, {"SummaryMap": {"Users": 3, "Groups": 1, "AccessKeysPerUserQuota": 2}}),
    # -- STS (query) ---------------------------------------------------------
    ("sts", "AssumeRole",
     {"RoleArn": "arn:aws:iam::123456789012:role/deploy", "RoleSessionName": "ci-run", "DurationSeconds": 900,
      "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}], "Tags": [{"Key": "project", "Value": "x"}]},
     {"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s3cr3t", "SessionToken": "tok==", "Expiration": T1},
      "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:ci-run", "Arn": "arn:aws:sts::123456789012:assumed-role/deploy/ci-run"},
      "PackedPolicySize": 7}),
    ("sts", "GetCallerIdentity", {}, {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/alice"}),
    # -- EC2 (ec2) -----------------------------------------------------------
    ("ec2", "RunInstances",
     {"ImageId": "emi-12345678", "MinCount": 1, "MaxCount": 2, "InstanceType": "t2.micro", "KeyName": "k",
      "SecurityGroupIds": ["sg-1", "sg-2"],
      "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}}],
      "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}]},
     {"ReservationId": "r-1", "OwnerId": "123456789012", "Groups": [{"GroupId": "sg-1", "GroupName": "default"}],
      "Instances": [{"InstanceId": "i-1", "ImageId": "emi-12345678", "LaunchTime": T1, "AmiLaunchIndex": 0,
                     "State": {"Code": 0, "Name": "pending"}, "PrivateIpAddress": "10.0.0.5",
                     "Tags": [{"Key": "Name", "Value": "web"}], "EbsOptimized": False}]}),
    ("ec2", "DescribeInstances",
     {"Filters": [{"Name": "instance-state-name", "Values": ["running", "stopped"]}], "InstanceIds": ["i-1", "i-2"]},
     {"Reservations": [{"ReservationId": "r-1", "Instances": [{"InstanceId": "i-1", "LaunchTime": T0}]}]}),
    ("ec2", "DescribeRegions", {}, {"Regions": [{"RegionName": "lab-1", "Endpoint": "http://silvereye.test:8773/services/compute"}]}),
    # -- ELB, AutoScaling, CloudFormation (query) ------------------------------
    ("elb", "CreateLoadBalancer",
     {"LoadBalancerName": "web", "AvailabilityZones": ["lab-1a"],
      "Listeners": [{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 8080}]},
     {"DNSName": "web-123.lb.silvereye.test"}),
    ("autoscaling", "CreateAutoScalingGroup",
     {"AutoScalingGroupName": "web", "LaunchConfigurationName": "lc", "MinSize": 1, "MaxSize": 3,
      "AvailabilityZones": ["lab-1a"], "Tags": [{"Key": "role", "Value": "web", "PropagateAtLaunch": True}]},
     None),
    ("autoscaling", "DescribeAutoScalingGroups", {"AutoScalingGroupNames": ["web"]},
     {"AutoScalingGroups": [{"AutoScalingGroupName": "web", "MinSize": 1, "MaxSize": 3, "DesiredCapacity": 2,
                             "DefaultCooldown": 300, "AvailabilityZones": ["lab-1a"], "HealthCheckType": "EC2",
                             "CreatedTime": T0, "Instances": []}]}),
    ("cloudformation", "CreateStack",
     {"StackName": "net", "TemplateBody": "{}", "Parameters": [{"ParameterKey": "Cidr", "ParameterValue": "10.0.0.0/16"}],
      "Capabilities": ["CAPABILITY_IAM"], "Tags": [{"Key": "env", "Value": "lab"}]},
     {"StackId": "arn:aws:cloudformation:lab-1:123456789012:stack/net/1"}),
    ("cloudformation", "DescribeStacks", {"StackName": "net"},
     {"Stacks": [{"StackName": "net", "StackId": "arn:x", "CreationTime": T0, "StackStatus": "CREATE_COMPLETE",
                  "Outputs": [{"OutputKey": "Vpc", "OutputValue": "vpc-1"}]}]}),
]


@pytest.mark.parametrize("service, operation, params, result", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_client_round_trip(service, operation, params, result):
    round_trip(service, operation, params, result)


def test_ec2_user_data_reaches_the_handler_base64_encoded_as_on_aws():
    # boto3 base64-encodes UserData itself; EC2 (and so our handler) receives the encoded text.
    gateway, _ = round_trip("ec2", "RunInstances", {"ImageId": "emi-1", "MinCount": 1, "MaxCount": 1}, {})
    client = gateway.client()
    gateway.handlers["RunInstances"] = lambda p: {}
    client.run_instances(ImageId="emi-1", MinCount=1, MaxCount=1, UserData="#!/bin/sh\necho hi\n")
    assert gateway.last.params["UserData"] == "IyEvYmluL3NoCmVjaG8gaGkK"


# -- CloudWatch: the same calls in each of its three protocols ----------------------

CLOUDWATCH = [
    ("PutMetricData",
     {"Namespace": "App", "MetricData": [
         {"MetricName": "Latency", "Dimensions": [{"Name": "Host", "Value": "web-1"}], "Timestamp": T0,
          "Value": 12.5, "Unit": "Milliseconds", "StorageResolution": 1},
         {"MetricName": "Requests", "Values": [1.0, 2.0], "Counts": [3.0, 4.0],
          "StatisticValues": {"SampleCount": 2.0, "Sum": 3.0, "Minimum": 1.0, "Maximum": 2.0}}]},
     None),
    ("GetMetricStatistics",
     {"Namespace": "App", "MetricName": "Latency", "StartTime": T0, "EndTime": T1, "Period": 60,
      "Statistics": ["Average", "Maximum"], "Dimensions": [{"Name": "Host", "Value": "web-1"}]},
     {"Label": "Latency", "Datapoints": [{"Timestamp": T0, "Average": 12.5, "Maximum": 20.0, "Unit": "Milliseconds"}]}),
    ("DescribeAlarms", {"AlarmNames": ["high"], "MaxRecords": 10},
     {"MetricAlarms": [{"AlarmName": "high", "ActionsEnabled": True, "StateValue": "ALARM", "Threshold": 90.0,
                        "StateUpdatedTimestamp": T1, "Dimensions": [{"Name": "Host", "Value": "web-1"}],
                        "EvaluationPeriods": 2, "ComparisonOperator": "GreaterThanThreshold"}]}),
]


@pytest.mark.parametrize("protocol", [None, "json", "smithy-rpc-v2-cbor", "query"])
@pytest.mark.parametrize("operation, params, result", CLOUDWATCH, ids=[c[0] for c in CLOUDWATCH])
def test_cloudwatch_round_trip_in_every_protocol(operation, params, result, protocol):
    gateway, _ = round_trip("cloudwatch", operation, params, result, protocol=protocol)
    expected = protocol or "json"  # boto3 1.44 speaks JSON (query-compatible) to CloudWatch
    assert gateway.last.protocol == expected
    if expected == "json":
        assert gateway.last.request.headers.get("x-amzn-query-mode") == "true"


def test_large_put_metric_data_arrives_gzip_compressed_and_is_inflated():
    data = [{"MetricName": f"m{i}", "Value": float(i), "Dimensions": [{"Name": "Host", "Value": "web-%03d" % i}]}
            for i in range(200)]
    gateway, _ = round_trip("cloudwatch", "PutMetricData", {"Namespace": "Bulk", "MetricData": data}, None)
    request = gateway.last.request
    assert request.headers.get("content-encoding") == "gzip"
    assert gzip.decompress(request.body)  # it really was gzip on the wire
    assert len(gateway.last.params["MetricData"]) == 200
