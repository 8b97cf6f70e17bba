"""Instances through the API on libvirt's test driver: launching, describing, the state machine, attributes."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
import sqlalchemy as sa

from silvereye.compute import ids
from silvereye.services.ec2 import housekeep
from silvereye.services.ec2.tables import instances as t
from tests.unit.ec2.harness import Ec2Server, aws_error


def one(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def launch(server, ec2, image, n=1, **kw):
    kw.setdefault("InstanceType", "t1.micro")
    r = ec2.run_instances(ImageId=image.image_id, MinCount=n, MaxCount=n, **kw)
    server.settle()
    return r


def test_run_answers_pending_then_the_instance_runs_with_its_address(server, ec2, acme, image):
    ec2.create_key_pair(KeyName="run-key")
    r = ec2.run_instances(ImageId=image.image_id, MinCount=2, MaxCount=2, InstanceType="t1.micro", KeyName="run-key",
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}])
    assert r["OwnerId"] == acme.account_id and r["ReservationId"].startswith("r-")
    assert [i["State"] for i in r["Instances"]] == [{"Code": 0, "Name": "pending"}] * 2
    assert [i["AmiLaunchIndex"] for i in r["Instances"]] == [0, 1]
    server.settle()
    for launched in r["Instances"]:
        inst = one(ec2, launched["InstanceId"])
        assert inst["State"] == {"Code": 16, "Name": "running"}
        assert re.fullmatch(r"10\.214\.0\.\d+", inst["PrivateIpAddress"])
        assert inst["PrivateDnsName"] == f"{inst['InstanceId']}.cloud.test"
        assert (inst["ImageId"], inst["KernelId"], inst["RamdiskId"]) == (image.image_id, image.kernel_id, image.ramdisk_id)
        assert inst["KeyName"] == "run-key" and inst["Tags"] == [{"Key": "Name", "Value": "web"}]
        assert inst["Placement"]["AvailabilityZone"] == "silvereye-1a"
        assert inst["VpcId"] == ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        assert [g["GroupName"] for g in inst["SecurityGroups"]] == ["default"]
        assert inst["MetadataOptions"]["HttpTokens"] == "optional"
        domain = server.runtime.driver.describe(inst["InstanceId"])
        assert (domain.private_ip, domain.owner, domain.image_id) == (inst["PrivateIpAddress"], acme.account_id, image.image_id)


def test_describe_filters_and_pages(server, ec2, image):
    made = launch(server, ec2, image, n=3, Placement={"AvailabilityZone": "silvereye-1b"},
                  TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "batch", "Value": "filters"}]}])
    mine = sorted(i["InstanceId"] for i in made["Instances"])
    by = lambda *f: sorted(i["InstanceId"] for r in ec2.describe_instances(Filters=list(f))["Reservations"]  # noqa: E731
                           for i in r["Instances"])
    assert by({"Name": "tag:batch", "Values": ["filters"]}) == mine
    assert by({"Name": "tag-key", "Values": ["batch"]}) == mine
    assert by({"Name": "availability-zone", "Values": ["silvereye-1b"]}, {"Name": "instance-state-name",
                                                                          "Values": ["running"]}) == mine
    first = one(ec2, mine[0])
    assert by({"Name": "private-ip-address", "Values": [first["PrivateIpAddress"]]}) == [mine[0]]
    assert by({"Name": "instance-id", "Values": [mine[1]]}) == [mine[1]]
    assert mine[2] in by({"Name": "image-id", "Values": [image.image_id]})
    assert by({"Name": "key-name", "Values": ["nobody"]}) == []
    # Pages of five, every instance exactly once.
    seen, token = [], None
    while True:
        kw = {"MaxResults": 5, **({"NextToken": token} if token else {})}
        page = ec2.describe_instances(**kw)
        seen += [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) and set(mine) <= set(seen)
    paginator = ec2.get_paginator("describe_instances")
    assert sum(len(r["Instances"]) for p in paginator.paginate(PaginationConfig={"PageSize": 5})
               for r in p["Reservations"]) == len(seen)
    with aws_error("InvalidParameterCombination"):
        ec2.describe_instances(InstanceIds=mine, MaxResults=5)
    with aws_error("InvalidParameterValue", match="'instance-sate'"):
        ec2.describe_instances(Filters=[{"Name": "instance-sate", "Values": ["running"]}])


def test_lookups_of_missing_malformed_and_foreign_instances(server, ec2, other, image):
    with aws_error("InvalidInstanceID.NotFound", match="'i-0123456789abcdef0' does not exist"):
        ec2.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    with aws_error("InvalidInstanceID.Malformed", match='Invalid id: "i-nothex"'):
        ec2.describe_instances(InstanceIds=["i-nothex"])
    theirs = server.client("ec2", other)
    iid = launch(server, theirs, image)["Instances"][0]["InstanceId"]
    with aws_error("InvalidInstanceID.NotFound"):
        ec2.terminate_instances(InstanceIds=[iid])
    assert iid not in [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]


def test_stop_start_reboot_terminate_follow_ec2s_state_machine(server, ec2, image):
    iid = launch(server, ec2, image)["Instances"][0]["InstanceId"]
    stopping = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert (stopping["PreviousState"]["Name"], stopping["CurrentState"]["Name"]) == ("running", "stopping")
    server.settle()
    inst = one(ec2, iid)
    assert inst["State"] == {"Code": 80, "Name": "stopped"}
    assert re.fullmatch(r"User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)", inst["StateTransitionReason"])
    assert inst["StateReason"] == {"Code": "Client.UserInitiatedShutdown",
                                   "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
    assert server.runtime.driver.state(iid).state == "shutoff"
    again = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]  # stopping a stopped one changes nothing
    assert again["CurrentState"]["Name"] == "stopped"
    with aws_error("IncorrectInstanceState", match="rebooted"):
        ec2.reboot_instances(InstanceIds=[iid])

    starting = ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]
    assert (starting["PreviousState"]["Name"], starting["CurrentState"]["Name"]) == ("stopped", "pending")
    server.settle()
    inst = one(ec2, iid)
    assert inst["State"]["Name"] == "running" and "StateReason" not in inst and inst["StateTransitionReason"] == ""
    ec2.reboot_instances(InstanceIds=[iid])
    server.settle()
    assert one(ec2, iid)["State"]["Name"] == "running"

    ending = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
    assert ending["CurrentState"] == {"Code": 32, "Name": "shutting-down"}
    server.settle()
    inst = one(ec2, iid)
    assert inst["State"] == {"Code": 48, "Name": "terminated"} and "PrivateIpAddress" not in inst
    assert server.runtime.driver.state(iid).state == "absent"
    assert not server.runtime.driver.instance_dir(iid).exists()
    for act in (ec2.stop_instances, ec2.start_instances):
        with aws_error("IncorrectInstanceState"):
            act(InstanceIds=[iid])
    assert ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]["CurrentState"]["Name"] == "terminated"


def test_terminated_instances_are_visible_for_an_hour(server, ec2, image):
    iid = launch(server, ec2, image)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()
    housekeep(server.runtime)
    assert one(ec2, iid)["State"]["Name"] == "terminated"
    earlier = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=61)
    with server.store.write() as conn:
        conn.execute(sa.update(t).where(t.c.id == iid).values(terminated_at=earlier))
    housekeep(server.runtime)
    with aws_error("InvalidInstanceID.NotFound"):
        ec2.describe_instances(InstanceIds=[iid])


def test_api_termination_and_stop_protection(server, ec2, image):
    iid = launch(server, ec2, image, DisableApiTermination=True)["Instances"][0]["InstanceId"]
    with aws_error("OperationNotPermitted", match="disableApiTermination"):
        ec2.terminate_instances(InstanceIds=[iid])
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")[
        "DisableApiTermination"] == {"Value": True}
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiStop={"Value": True})
    with aws_error("OperationNotPermitted", match="disableApiStop"):
        ec2.stop_instances(InstanceIds=[iid])
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[iid])
    server.settle()
    assert one(ec2, iid)["State"]["Name"] == "terminated"


def test_attributes_user_data_and_instance_type(server, ec2, image):
    script = b"#!/bin/sh\necho hello\n"
    iid = launch(server, ec2, image, UserData=script.decode())["Instances"][0]["InstanceId"]
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(attr) == script
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"] == {"Value": "t1.micro"}
    with aws_error("IncorrectInstanceState"):
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t2.small"})
    ec2.stop_instances(InstanceIds=[iid])
    server.settle()
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t2.small"})
    ec2.modify_instance_attribute(InstanceId=iid, UserData={"Value": b"#!/bin/sh\necho changed\n"})
    dom = server.runtime.driver.nodes[0].connection().lookupByName(ids.domain_name(iid))
    assert dom.info()[1] == 2048 * 1024  # the domain itself was resized
    assert server.runtime.driver.describe(iid).instance_type == "t2.small"
    changed = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(changed) == b"#!/bin/sh\necho changed\n"
    with aws_error("InvalidParameterValue"):
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "x9.gigantic"})
    with aws_error("InvalidParameterCombination"):
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t2.nano"}, DisableApiStop={"Value": True})
    ec2.start_instances(InstanceIds=[iid])
    server.settle()
    assert one(ec2, iid)["InstanceType"] == "t2.small"
    options = ec2.modify_instance_metadata_options(InstanceId=iid, HttpTokens="required", HttpPutResponseHopLimit=2)
    assert options["InstanceMetadataOptions"]["HttpTokens"] == "required"
    assert one(ec2, iid)["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    with aws_error("InvalidParameterValue"):
        ec2.modify_instance_metadata_options(InstanceId=iid, HttpPutResponseHopLimit=65)


def test_console_output_is_the_latest_64_kib_in_base64(server, ec2, image):
    iid = launch(server, ec2, image)["Instances"][0]["InstanceId"]
    console = server.runtime.driver.instance_dir(iid) / "console.log"
    console.write_bytes(b"x" * 70000 + b"\nsilvereye-tiny: boot complete instance-id=" + iid.encode() + b"\n")
    out = ec2.get_console_output(InstanceId=iid, Latest=True)  # boto3 decodes Output from base64
    assert out["InstanceId"] == iid and out["Output"].endswith(f"boot complete instance-id={iid}\n")
    assert len(out["Output"]) == 64 * 1024


def test_client_token_makes_run_instances_idempotent(server, ec2, image):
    first = launch(server, ec2, image, ClientToken="token-1")
    again = ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                              ClientToken="token-1")
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == [i["InstanceId"] for i in first["Instances"]]
    assert again["Instances"][0]["State"]["Name"] == "running" and again["Instances"][0]["ClientToken"] == "token-1"
    with aws_error("IdempotentParameterMismatch"):
        ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, InstanceType="t2.nano", ClientToken="token-1")


def test_launch_argument_errors(server, ec2, image):
    run = lambda **kw: ec2.run_instances(**{"ImageId": image.image_id, "MinCount": 1, "MaxCount": 1, **kw})  # noqa: E731
    with aws_error("InvalidAMIID.NotFound"):
        run(ImageId="ami-0123456789abcdef0")
    with aws_error("InvalidAMIID.Malformed"):
        run(ImageId="ami-xyz")
    with aws_error("InvalidParameterValue", match="kernel image"):
        run(ImageId=image.kernel_id)
    with aws_error("InvalidKeyPair.NotFound"):
        run(KeyName="no-such-key")
    with aws_error("InvalidGroup.NotFound"):
        run(SecurityGroups=["web"])
    with aws_error("InvalidParameterValue", match="InstanceType"):
        run(InstanceType="x9.gigantic")
    with aws_error("InvalidParameterValue", match="Invalid availability zone"):
        run(Placement={"AvailabilityZone": "elsewhere-1a"})
    subnet_b = [s for s in ec2.describe_subnets()["Subnets"] if s["AvailabilityZone"] == "silvereye-1b"][0]["SubnetId"]
    with aws_error("InvalidParameterValue", match="is in Availability Zone silvereye-1b"):
        run(SubnetId=subnet_b, Placement={"AvailabilityZone": "silvereye-1a"})
    with aws_error("InvalidSubnetID.NotFound"):
        run(SubnetId="subnet-0123456789abcdef0")
    with aws_error("InvalidParameterValue", match="16384"):
        run(UserData="x" * 16385)
    with aws_error("InvalidParameterValue", match="minCount"):
        run(MinCount=3, MaxCount=2)
    with aws_error("Unsupported", match="launch templates"):
        run(LaunchTemplate={"LaunchTemplateName": "lt"})
    with aws_error("Unsupported"):
        run(BlockDeviceMappings=[{"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 1, "Encrypted": True}}])
    with aws_error("InvalidParameterValue", match="Invalid IAM Instance Profile name"):
        run(IamInstanceProfile={"Name": "none-such"})
    placed = launch(server, ec2, image, SubnetId=subnet_b)["Instances"][0]
    assert placed["Placement"]["AvailabilityZone"] == "silvereye-1b" and placed["SubnetId"] == subnet_b


def test_dry_run_and_iam_decide_with_ec2s_codes(server, ec2, acme, image):
    with aws_error("DryRunOperation", status=412):
        ec2.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, DryRun=True)
    nobody = server.client("ec2", server.user(acme, "nobody"))
    with aws_error("UnauthorizedOperation", status=403):
        nobody.run_instances(ImageId=image.image_id, MinCount=1, MaxCount=1, DryRun=True)
    with aws_error("UnauthorizedOperation"):
        nobody.describe_instances()
    iid = launch(server, ec2, image)["Instances"][0]["InstanceId"]
    region_arn = f"arn:aws:ec2:silvereye-1:{acme.account_id}"
    operator = server.client("ec2", server.user(
        acme, "operator",
        {"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["ec2:StopInstances", "ec2:StartInstances"],
         "Resource": f"{region_arn}:instance/{iid}"}))
    with aws_error("DryRunOperation"):
        operator.stop_instances(InstanceIds=[iid], DryRun=True)
    assert one(ec2, iid)["State"]["Name"] == "running"  # a dry run changes nothing
    other = launch(server, ec2, image)["Instances"][0]["InstanceId"]
    with aws_error("UnauthorizedOperation"):
        operator.stop_instances(InstanceIds=[other])
    with aws_error("UnauthorizedOperation"):
        operator.terminate_instances(InstanceIds=[iid])
    operator.stop_instances(InstanceIds=[iid])
    server.settle()
    assert one(ec2, iid)["State"]["Name"] == "stopped"


def test_instance_status(server, ec2, image):
    running, stopped = [i["InstanceId"] for i in launch(server, ec2, image, n=2)["Instances"]]
    ec2.stop_instances(InstanceIds=[stopped])
    server.settle()
    statuses = ec2.describe_instance_status(InstanceIds=[running, stopped])["InstanceStatuses"]
    assert [s["InstanceId"] for s in statuses] == [running]
    status = statuses[0]
    assert status["SystemStatus"]["Status"] == "ok"
    # The test driver hands out no DHCP leases: the guest never shows it is up.
    assert status["InstanceStatus"]["Status"] == "initializing"
    every = ec2.describe_instance_status(InstanceIds=[running, stopped], IncludeAllInstances=True)["InstanceStatuses"]
    assert {s["InstanceId"]: s["InstanceState"]["Name"] for s in every} == {running: "running", stopped: "stopped"}


@pytest.fixture
def small_cloud(tmp_path, image):
    s = Ec2Server(tmp_path).start()
    yield s
    s.stop()


def test_capacity_limits_launches_like_ec2(small_cloud, image):
    from silvereye.services.ec2 import install
    from tests.unit.ec2.harness import image_files

    files = image_files(small_cloud.root / "files")
    mine = install.install_image(small_cloud.config, small_cloud.store, "cap", root=files["root"], root_format="qcow2")
    ec2 = small_cloud.client("ec2", small_cloud.account("admin"))
    # 16 GiB less 512 MiB kept for the host: one 8 GiB t2.large fits, not two.
    with aws_error("InsufficientInstanceCapacity", match="t2.large"):
        ec2.run_instances(ImageId=mine.image_id, MinCount=2, MaxCount=2, InstanceType="t2.large")
    r = ec2.run_instances(ImageId=mine.image_id, MinCount=1, MaxCount=5, InstanceType="t2.large")
    assert len(r["Instances"]) == 1
    small_cloud.settle()
    verbose = ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]
    line = next(z["State"] for z in verbose if z["ZoneName"] == "|- t2.large")
    assert line.startswith("0000 / 0001")
    ec2.stop_instances(InstanceIds=[r["Instances"][0]["InstanceId"]])
    small_cloud.settle()
    second = ec2.run_instances(ImageId=mine.image_id, MinCount=1, MaxCount=1, InstanceType="t2.large")
    small_cloud.settle()
    with aws_error("InsufficientInstanceCapacity"):
        ec2.start_instances(InstanceIds=[r["Instances"][0]["InstanceId"]])
    assert second["Instances"][0]["InstanceId"]
