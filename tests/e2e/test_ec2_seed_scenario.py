"""Acceptance of EC2 networking and block storage: the seed scenario, with the aws CLI.

A user creates a security group, opens tcp/22 and tcp/80 from a CIDR, runs
the tiny image in it, gives it an elastic IP, creates a 1 GiB volume,
attaches it, snapshots it, and then tears all of it down again. Along the
way the rules are seen to work (the web page answers through the elastic
address, the guest sees the volume), and at the end nothing is left: no
domain on the cloud's network, no firewall or NAT rule naming the group or
the address, no volume file, no snapshot object.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from silvereye.compute.elastic_ips import ElasticIPs
from silvereye.compute.security_groups import SecurityGroupFirewall
from silvereye.compute.volumes import Volumes
from silvereye.services.ec2.models import snapshots as snapshot_records
from silvereye.services.s3 import internal
from silvereye.store import Store
from tests.e2e.ec2_cloud import BOOT_LINE, host_key_from_console, ssh
from tests.e2e.test_compute_eip import outside  # noqa: F401 - a fixture
from tests.e2e.test_compute_secgroups import host_reaches
from tests.e2e.test_ec2_elastic_ips import eip_cloud  # noqa: F401 - a fixture

pytestmark = pytest.mark.e2e


def test_the_seed_scenario_with_the_aws_cli(eip_cloud, tmp_path):  # noqa: F811
    cloud, _ns = eip_cloud
    tiny = cloud.install_tiny()
    run = cloud.server.aws

    def aws(*args: str) -> dict:
        out = run("ec2", *args, "--output", "json").stdout
        return json.loads(out) if out.strip() else {}

    key = aws("create-key-pair", "--key-name", "seed")["KeyMaterial"]
    group = aws("create-security-group", "--group-name", "seed-web", "--description", "the seed scenario web server")
    group_id = group["GroupId"]
    subnet = str(cloud.cfg.network.subnet)  # the host reaches instances from the gateway, on this subnet
    aws("authorize-security-group-ingress", "--group-id", group_id, "--protocol", "tcp", "--port", "22",
        "--cidr", subnet)
    aws("authorize-security-group-ingress", "--group-id", group_id, "--protocol", "tcp", "--port", "80",
        "--cidr", "0.0.0.0/0")
    rules = aws("describe-security-group-rules", "--filters", f"Name=group-id,Values={group_id}")
    ingress = {(r["IpProtocol"], r["FromPort"], r.get("CidrIpv4")) for r in rules["SecurityGroupRules"]
               if not r["IsEgress"]}
    assert ingress == {("tcp", 22, subnet), ("tcp", 80, "0.0.0.0/0")}

    iid = aws("run-instances", "--image-id", tiny["image_id"], "--instance-type", "t2.nano", "--key-name", "seed",
              "--security-group-ids", group_id, "--count", "1")["Instances"][0]["InstanceId"]
    run("ec2", "wait", "instance-running", "--instance-ids", iid)
    found = aws("describe-instances", "--instance-ids", iid)["Reservations"][0]["Instances"][0]
    assert [g["GroupId"] for g in found["SecurityGroups"]] == [group_id]
    private = found["PrivateIpAddress"]
    console = ""
    for _ in range(120):
        console = aws("get-console-output", "--instance-id", iid, "--latest").get("Output", "")
        if BOOT_LINE in console:
            break
        time.sleep(2)
    assert BOOT_LINE in console, console[-400:]
    as_guest = lambda command: ssh(private, key, host_key_from_console(console), command)  # noqa: E731

    # An elastic IP: the web page answers through it.
    alloc = aws("allocate-address", "--domain", "vpc")
    public = alloc["PublicIp"]
    assoc = aws("associate-address", "--allocation-id", alloc["AllocationId"], "--instance-id", iid)["AssociationId"]
    page = urllib.request.urlopen(f"http://{public}/", timeout=10).read().decode()
    assert f"instance-id: {iid}" in page

    # A 1 GiB volume, attached while it runs: the guest sees a 1 GiB disk with the volume's serial.
    zone = found["Placement"]["AvailabilityZone"]
    volume_id = aws("create-volume", "--size", "1", "--availability-zone", zone)["VolumeId"]
    run("ec2", "wait", "volume-available", "--volume-ids", volume_id)
    aws("attach-volume", "--volume-id", volume_id, "--instance-id", iid, "--device", "/dev/sdf")
    run("ec2", "wait", "volume-in-use", "--volume-ids", volume_id)
    serial = volume_id.replace("-", "")
    disks = as_guest("for d in /sys/block/vd*; do echo $(cat $d/size) $(cat $d/serial 2>/dev/null); done")
    assert f"{(1 << 30) // 512} {serial}" in disks.splitlines(), disks

    # A snapshot of it, taken while attached.
    snapshot_id = aws("create-snapshot", "--volume-id", volume_id, "--description", "seed")["SnapshotId"]
    run("ec2", "wait", "snapshot-completed", "--snapshot-ids", snapshot_id)
    (snap,) = aws("describe-snapshots", "--snapshot-ids", snapshot_id)["Snapshots"]
    assert (snap["State"], snap["VolumeId"], snap["VolumeSize"]) == ("completed", volume_id, 1)

    # Tear all of it down again.
    aws("detach-volume", "--volume-id", volume_id)
    run("ec2", "wait", "volume-available", "--volume-ids", volume_id)
    aws("delete-volume", "--volume-id", volume_id)
    aws("delete-snapshot", "--snapshot-id", snapshot_id)
    aws("disassociate-address", "--association-id", assoc)
    aws("release-address", "--allocation-id", alloc["AllocationId"])
    aws("terminate-instances", "--instance-ids", iid)
    run("ec2", "wait", "instance-terminated", "--instance-ids", iid)
    aws("delete-security-group", "--group-id", group_id)
    aws("delete-key-pair", "--key-name", "seed")

    assert not host_reaches(public, timeout=1)
    assert aws("describe-addresses")["Addresses"] == []
    assert aws("describe-volumes")["Volumes"] == []
    assert aws("describe-snapshots", "--owner-ids", "self")["Snapshots"] == []
    assert group_id not in json.dumps(aws("describe-security-groups"))

    # Nothing left behind on the host: domains, rules, files, objects.
    drv = cloud.driver()
    try:
        assert [i.instance_id for i in drv.list_instances() if i.network == cloud.network] == []
        assert Volumes(drv).list() == []
        for table in (SecurityGroupFirewall.for_driver(drv).table, ElasticIPs.for_driver(drv).table):
            ruleset = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout
            assert group_id.replace("-", "_") not in ruleset and group_id not in ruleset and public not in ruleset
            assert iid not in ruleset and private not in ruleset
    finally:
        drv.close()
    store = Store(cloud.cfg.store_url)
    try:
        assert internal.list_keys(store, snapshot_records.BUCKET) == []
    finally:
        store.close()
