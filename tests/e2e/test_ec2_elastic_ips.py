"""Elastic IPs as a user lives them: the real server, boto3, a tiny instance under QEMU (TCG).

The public side is the network namespace of :mod:`tests.e2e.test_compute_eip`
(a veth whose host end is the configured public interface, the range .16-.20
of its /24 as ``network.public_range``). The user runs an instance, allocates
an address and associates it: the host and the outside reach the instance's
web page through it, the instance's metadata and DescribeInstances show it;
disassociating cuts it off; releasing an associated address is refused and
changes nothing; terminating removes the rules and leaves the address allocated.
"""

from __future__ import annotations

import subprocess
import urllib.request

import botocore.exceptions
import pytest
import yaml

from silvereye.compute import ComputeDriver
from silvereye.compute.elastic_ips import ElasticIPs
from tests.e2e.ec2_cloud import BOOT_LINE, Ec2Cloud, host_key_from_console, instance, ssh, wait_console, wait_state
from tests.e2e.test_compute_eip import from_outside, outside  # noqa: F401 - a fixture
from tests.e2e.test_compute_secgroups import host_reaches, seconds_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def eip_cloud(libvirt_system, e2e_cfg, outside):  # noqa: F811
    """A running cloud whose public_range and interface are the namespace's."""
    c = Ec2Cloud()
    cfg = yaml.safe_load(c.server.config_path.read_text())
    cfg["network"].update(interface=e2e_cfg.network.interface, public_range=e2e_cfg.network.public_range)
    c.server.config_path.write_text(yaml.safe_dump(cfg))
    c.start()
    try:
        yield c, outside[0]
    finally:
        kept = c.cfg
        c.destroy()  # kills the server first: its rules outlive it, as a service's do until uninstall
        drv = ComputeDriver(kept, metadata_redirect=False)
        try:
            ElasticIPs.for_driver(drv).teardown()
        finally:
            drv.close()


def nat_table(cloud: Ec2Cloud) -> str:
    drv = cloud.driver()
    try:
        table = ElasticIPs.for_driver(drv).table
    finally:
        drv.close()
    return subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout


def test_an_elastic_ip_follows_its_instance_through_a_users_session(eip_cloud):
    cloud, ns = eip_cloud
    tiny = cloud.install_tiny()
    ec2 = cloud.server.client("ec2")
    key = ec2.create_key_pair(KeyName="eip-key")
    # As on AWS, the default group admits only its own members: let SSH and the web page in.
    ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        for port in (22, 80)])
    iid = ec2.run_instances(ImageId=tiny["image_id"], MinCount=1, MaxCount=1, InstanceType="t2.nano",
                            KeyName="eip-key")["Instances"][0]["InstanceId"]
    private = wait_state(ec2, iid, "running")["PrivateIpAddress"]
    host_key = host_key_from_console(wait_console(ec2, iid, BOOT_LINE))
    as_guest = lambda command: ssh(private, key["KeyMaterial"], host_key, command)  # noqa: E731

    alloc = ec2.allocate_address(Domain="vpc")
    public = alloc["PublicIp"]
    assert not host_reaches(public, timeout=1)
    assoc = ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)["AssociationId"]

    # Its web page through the elastic address, from this host and from outside.
    page = urllib.request.urlopen(f"http://{public}/", timeout=10).read().decode()
    assert f"instance-id: {iid}" in page
    assert f"instance-id: {iid}" in (from_outside(ns, f"http://{public}/") or "")
    # The instance and the API both know its public address.
    md = "http://169.254.169.254/latest/meta-data"
    assert as_guest(f"wget -q -O - {md}/public-ipv4") == public
    assert instance(ec2, iid)["PublicIpAddress"] == public
    (described,) = ec2.describe_addresses(PublicIps=[public])["Addresses"]
    assert (described["InstanceId"], described["AssociationId"], described["PrivateIpAddress"]) == (iid, assoc, private)

    # Releasing an associated address is refused, and nothing changes.
    rules = nat_table(cloud)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        ec2.release_address(AllocationId=alloc["AllocationId"])
    assert refused.value.response["Error"]["Code"] == "InvalidIPAddress.InUse"
    assert nat_table(cloud) == rules and host_reaches(public, timeout=3)
    assert ec2.describe_addresses(PublicIps=[public])["Addresses"][0]["AssociationId"] == assoc

    # Disassociated: unreachable, and gone from the metadata and the description.
    ec2.disassociate_address(AssociationId=assoc)
    assert not host_reaches(public, timeout=1)
    assert from_outside(ns, f"http://{public}/") is None
    assert "404" in as_guest(f"wget -O - {md}/public-ipv4 2>&1 || true")
    assert "PublicIpAddress" not in instance(ec2, iid)

    # Associated again, then terminated: the rules go, the address stays allocated.
    ec2.associate_address(PublicIp=public, InstanceId=iid)
    assert host_reaches(public, timeout=3)
    ec2.terminate_instances(InstanceIds=[iid])
    wait_state(ec2, iid, "terminated", timeout=180)
    seconds_until(lambda: f"ip daddr {public}" not in nat_table(cloud))  # the terminate hook follows the record
    assert not host_reaches(public, timeout=1)
    (left,) = ec2.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"]
    assert "InstanceId" not in left
    ec2.release_address(AllocationId=alloc["AllocationId"])
    assert ec2.describe_addresses()["Addresses"] == []
