"""The region, its zones and instance types, the default VPC presentation, tags on every kind, accounts."""

from __future__ import annotations

import pytest

from silvereye.errors import SilvereyeError
from silvereye.services.ec2 import controller
from silvereye.services.iam import accounts
from tests.unit.ec2.harness import REGION, ZONES, aws_error


def test_region_and_zones(ec2):
    regions = ec2.describe_regions()["Regions"]
    assert [r["RegionName"] for r in regions] == [REGION]
    assert regions[0]["Endpoint"].startswith("127.0.0.1:")
    with aws_error("InvalidParameterValue", match="us-east-1"):
        ec2.describe_regions(RegionNames=["us-east-1"])
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"], z["State"]) for z in zones] == [
        ("silvereye-1a", "silvereye-1-az1", "available"), ("silvereye-1b", "silvereye-1-az2", "available")]
    assert [z["ZoneName"] for z in ec2.describe_availability_zones(
        Filters=[{"Name": "zone-name", "Values": ["*b"]}])["AvailabilityZones"]] == ["silvereye-1b"]
    with aws_error("InvalidParameterValue", match="Invalid availability zone"):
        ec2.describe_availability_zones(ZoneNames=["silvereye-1z"])


def test_verbose_zone_listing_counts_room_per_instance_type(ec2):
    lines = ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]
    names = [z["ZoneName"] for z in lines]
    assert names[0] == "silvereye-1a" and names[1] == "|- vm types"
    assert lines[1]["State"] == "free / max   cpu   ram  disk"
    rows = {z["ZoneName"][3:]: z["State"].split() for z in lines[:len(lines) // 2] if z["ZoneName"].startswith("|- ")
            and z["ZoneName"] != "|- vm types"}
    # The test node: 4 CPUs x 16, 16 GiB less 512 MiB for the host.
    free, _, total, cpu, ram, _disk = rows["t2.small"]
    assert (int(total), cpu, ram) == (15872 // 2048, "1", "2048")
    assert int(free) <= int(total)
    assert "silvereye-1b" in names


def test_instance_types(ec2):
    small = ec2.describe_instance_types(InstanceTypes=["t2.micro"])["InstanceTypes"][0]
    assert (small["VCpuInfo"]["DefaultVCpus"], small["MemoryInfo"]["SizeInMiB"]) == (1, 1024)
    assert small["BurstablePerformanceSupported"] is True and small["FreeTierEligible"] is True
    two_gib = ec2.describe_instance_types(Filters=[{"Name": "memory-info.size-in-mib", "Values": ["2048"]}])
    assert {t["InstanceType"] for t in two_gib["InstanceTypes"]} == {"t2.small", "t3.small", "c1.xlarge"}
    page = ec2.describe_instance_types(MaxResults=5)
    assert len(page["InstanceTypes"]) == 5 and page["NextToken"]
    with aws_error("InvalidParameterValue", match="x9.huge"):
        ec2.describe_instance_types(InstanceTypes=["x9.huge"])


def test_the_default_vpc_subnets_and_group(ec2, server, acme, other):
    vpc = ec2.describe_vpcs()["Vpcs"]
    assert len(vpc) == 1 and vpc[0]["IsDefault"] and vpc[0]["CidrBlock"] == "10.214.0.0/24"
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ZONES
    assert all(s["VpcId"] == vpc[0]["VpcId"] and s["CidrBlock"] == "10.214.0.0/24" for s in subnets)
    # 256 addresses less network, gateway, DNS, one reserved and broadcast, less what instances hold.
    assert 0 < subnets[0]["AvailableIpAddressCount"] <= 251
    attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
             for a in ec2.describe_account_attributes()["AccountAttributes"]}
    assert attrs["default-vpc"] == [vpc[0]["VpcId"]] and attrs["supported-platforms"] == ["VPC"]
    assert int(attrs["max-instances"][0]) > 0
    groups = ec2.describe_security_groups()["SecurityGroups"]
    assert [(g["GroupName"], g["VpcId"]) for g in groups] == [("default", vpc[0]["VpcId"])]
    assert groups[0]["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == groups[0]["GroupId"]
    with aws_error("InvalidGroup.NotFound"):
        ec2.describe_security_groups(GroupNames=["web"])
    with aws_error("InvalidVpcID.NotFound"):
        ec2.describe_vpcs(VpcIds=["vpc-0123456789abcdef0"])
    # Each account has its own default VPC ids, stable across calls.
    theirs = server.client("ec2", other).describe_vpcs()["Vpcs"][0]["VpcId"]
    assert theirs != vpc[0]["VpcId"] and ec2.describe_vpcs()["Vpcs"][0]["VpcId"] == vpc[0]["VpcId"]


def test_tags_on_every_kind_of_resource(ec2, server, other, image):
    key = ec2.create_key_pair(KeyName="tag-key")["KeyPairId"]
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    iid = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0][
        "InstanceId"]
    resources = [iid, image.image_id, key, vpc, subnet, group]
    ec2.create_tags(Resources=resources, Tags=[{"Key": "project", "Value": "apollo"}, {"Key": "empty"}])
    described = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["project"]}])["Tags"]
    assert {(t["ResourceId"], t["ResourceType"]) for t in described} == {
        (iid, "instance"), (image.image_id, "image"), (key, "key-pair"), (vpc, "vpc"), (subnet, "subnet"),
        (group, "security-group")}
    only = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["instance"]},
                                      {"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert {(t["Key"], t["Value"]) for t in only} == {("project", "apollo"), ("empty", "")}
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:project", "Values": ["apollo"]}])["Vpcs"][0]["VpcId"] == vpc
    # Tags on a shared public image are each account's own.
    theirs = server.client("ec2", other)
    assert all(t["Key"] != "project" for t in theirs.describe_tags()["Tags"])
    assert "Tags" not in theirs.describe_images(ImageIds=[image.image_id])["Images"][0]
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": "project", "Value": "gemini"}])  # value differs: kept
    ec2.delete_tags(Resources=[iid], Tags=[{"Key": "empty"}])
    assert [(t["Key"], t["Value"]) for t in ec2.describe_tags(
        Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]] == [("project", "apollo")]
    with aws_error("InvalidInstanceID.NotFound"):
        ec2.create_tags(Resources=["i-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    with aws_error("InvalidID"):
        ec2.create_tags(Resources=["bogus-0123"], Tags=[{"Key": "a", "Value": "b"}])
    with aws_error("InvalidParameterValue", match="aws:"):
        ec2.create_tags(Resources=[iid], Tags=[{"Key": "aws:owner", "Value": "me"}])
    with aws_error("TagLimitExceeded"):
        ec2.create_tags(Resources=[iid], Tags=[{"Key": f"k{n}", "Value": "v"} for n in range(50)])
    server.settle()


def test_an_account_with_instances_is_deleted_only_with_force(server, image):
    victim = server.account("short-lived")
    ec2 = server.client("ec2", victim)
    iid = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro")["Instances"][0][
        "InstanceId"]
    ec2.create_key_pair(KeyName="theirs")
    server.settle()
    with pytest.raises(SilvereyeError, match="1 EC2 instance, 1 EC2 key pair"):
        with server.store.write() as conn:
            accounts.delete(conn, "short-lived")
    with server.store.write() as conn:
        accounts.delete(conn, "short-lived", force=True)
    controller.reconcile(server.runtime)  # its domain has no record now: ours, so it goes
    server.settle()
    assert iid not in {i.instance_id for i in server.runtime.driver.list_instances()}
