"""Security groups as a user meets them: boto3 against the real server, two tiny instances under QEMU.

Both run in a new group "web" that lets SSH in (so the test can log in) and
nothing else. Port 80 of the first (the tiny guest's httpd) is closed to the
second and to the host until a rule opens it, open within a second of the
call, closed again within a second of the revoke. A rule naming a group
admits that group's members only (the second instance, once it joins); an
ICMP rule lets pings through; mistakes (a duplicate rule, deleting a group
in use) answer AWS's errors and change nothing; the server restarts and
finds every group and member where it left them.
"""

from __future__ import annotations

import subprocess
from xml.etree import ElementTree

import pytest

from silvereye.compute.ids import domain_name
from tests.e2e.ec2_cloud import cloud  # noqa: F401 - a fixture
from tests.e2e.ec2_cloud import BOOT_LINE, host_key_from_console, instance, ssh, wait_console, wait_state
from tests.e2e.test_compute_secgroups import host_reaches, seconds_until

pytestmark = pytest.mark.e2e

SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]}
HTTP_ANYWHERE = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


class Shell:
    """Root on an instance over SSH with the key pair."""

    def __init__(self, ec2, iid: str, key_pem: str):
        self.ip = wait_state(ec2, iid, "running", timeout=240)["PrivateIpAddress"]
        self.host_key = host_key_from_console(wait_console(ec2, iid, BOOT_LINE))
        self.key = key_pem

    def ok(self, command: str) -> bool:
        return ssh(self.ip, self.key, self.host_key, f"if {command}; then echo yes; else echo no; fi").strip() == "yes"

    def reaches(self, address: str) -> bool:
        return self.ok(f"timeout 3 wget -q -O /dev/null http://{address}/")

    def pings(self, address: str) -> bool:
        return self.ok(f"ping -c 1 -W 1 {address} >/dev/null")


def test_security_groups_guard_instances_live(cloud, record_property):
    tiny = cloud.install_tiny()
    ec2 = cloud.server.client("ec2")
    key = ec2.create_key_pair(KeyName="sg-key")["KeyMaterial"]
    web = ec2.create_security_group(GroupName="web", Description="web servers")["GroupId"]
    clients = ec2.create_security_group(GroupName="clients", Description="who may use the web servers")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[SSH])
    run = ec2.run_instances(ImageId=tiny["image_id"], MinCount=2, MaxCount=2, InstanceType="t2.nano",
                            KeyName="sg-key", SecurityGroupIds=[web])
    server_id, client_id = sorted(i["InstanceId"] for i in run["Instances"])
    server, client = Shell(ec2, server_id, key), Shell(ec2, client_id, key)
    assert [g["GroupName"] for g in instance(ec2, server_id)["SecurityGroups"]] == ["web"]

    # The instances carry libvirt's anti-spoofing filter: they can only send as themselves.
    xml = subprocess.run(["virsh", "-c", "qemu:///system", "dumpxml", domain_name(server_id)], capture_output=True,
                         text=True, check=True).stdout
    assert [f.get("filter") for f in ElementTree.fromstring(xml).iter("filterref")] == ["clean-traffic"]

    # Port 80 is closed to the other instance and to the host until a rule opens it.
    assert not host_reaches(server.ip)
    assert not client.reaches(server.ip)
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[HTTP_ANYWHERE])
    opened = seconds_until(lambda: host_reaches(server.ip))
    assert opened < 1.0
    assert client.reaches(server.ip)

    # Mistakes answer AWS's errors and change nothing.
    before = ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"]
    with pytest.raises(ec2.exceptions.ClientError) as duplicate:
        ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[HTTP_ANYWHERE])
    assert duplicate.value.response["Error"]["Code"] == "InvalidPermission.Duplicate"
    with pytest.raises(ec2.exceptions.ClientError) as in_use:
        ec2.delete_security_group(GroupId=web)
    assert in_use.value.response["Error"]["Code"] == "InvalidGroup.InUse"
    assert ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"] == before
    assert host_reaches(server.ip)

    ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[HTTP_ANYWHERE])
    closed = seconds_until(lambda: not host_reaches(server.ip))
    assert closed < 1.0
    assert not client.reaches(server.ip)
    record_property("rule_change_seconds", {"open": round(opened, 3), "close": round(closed, 3)})

    # A rule naming the clients group admits its members only: the client once it joins, never the host.
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": clients}]}])
    assert not client.reaches(server.ip)
    ec2.modify_instance_attribute(InstanceId=client_id, Groups=[web, clients])
    assert {g["GroupName"] for g in instance(ec2, client_id)["SecurityGroups"]} == {"web", "clients"}
    assert client.reaches(server.ip)
    assert not host_reaches(server.ip)

    # ICMP: echo requests from the clients group.
    assert not client.pings(server.ip)
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "UserIdGroupPairs": [{"GroupId": clients}]}])
    assert client.pings(server.ip)
    assert not server.pings(client.ip)  # the server is not in clients

    # A restart finds every group and member again: the rules still hold, and new ones bite.
    cloud.server.restart()
    ec2 = cloud.server.client("ec2")
    assert client.reaches(server.ip) and not host_reaches(server.ip)
    ec2.modify_instance_attribute(InstanceId=client_id, Groups=[web])
    assert not client.reaches(server.ip) and not client.pings(server.ip)
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[HTTP_ANYWHERE])
    assert seconds_until(lambda: host_reaches(server.ip)) < 1.0

    # Tear down: instances first, then the groups they were in.
    ec2.terminate_instances(InstanceIds=[server_id, client_id])
    for iid in (server_id, client_id):
        wait_state(ec2, iid, "terminated", timeout=180)
    ec2.revoke_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": clients}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "UserIdGroupPairs": [{"GroupId": clients}]}])
    ec2.delete_security_group(GroupId=clients)
    ec2.delete_security_group(GroupId=web)
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
