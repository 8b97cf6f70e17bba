"""EC2 instances as a user lives them, through the real server with boto3, on QEMU (TCG) guests.

The tiny image is registered the way `silvereye install` registers it, then
run: it boots, reads its identity and key from the metadata service, runs
its user-data, and prints its boot line, which GetConsoleOutput shows. SSH
with the key pair works; a second instance learns only about itself; stop
and start keep the root disk; terminate leaves no domain, file or DHCP
reservation behind.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.ec2_cloud import cloud  # noqa: F401 - a fixture
from tests.e2e.ec2_cloud import BOOT_LINE, host_key_from_console, instance, ssh, wait_console, wait_state

pytestmark = pytest.mark.e2e

USER_DATA = "#!/bin/sh\necho \"user-data ran on $(cat /run/instance-id)\" > /data/user-data-was-here\n" \
            "echo user-data-says-hello\n"


def test_tiny_instances_boot_talk_to_metadata_and_live_their_life(cloud):
    tiny = cloud.install_tiny()
    ec2 = cloud.server.client("ec2")
    images = {i["ImageId"]: i for i in ec2.describe_images(Owners=["amazon"])["Images"]}
    assert images[tiny["image_id"]]["KernelId"] == tiny["kernel_id"]
    key = ec2.create_key_pair(KeyName="e2e-key")
    # As on AWS, the default group admits only its own members: open SSH for the host.
    ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    first = ec2.run_instances(ImageId=tiny["image_id"], MinCount=1, MaxCount=1, InstanceType="t2.nano",
                              KeyName="e2e-key", UserData=USER_DATA)["Instances"][0]["InstanceId"]
    second = ec2.run_instances(ImageId=tiny["image_id"], MinCount=1, MaxCount=1, InstanceType="t2.nano",
                               KeyName="e2e-key")["Instances"][0]["InstanceId"]
    running = wait_state(ec2, first, "running")
    address = running["PrivateIpAddress"]

    # The console, through GetConsoleOutput: the guest read its own id and ran its user-data.
    console = wait_console(ec2, first, BOOT_LINE)
    assert f"boot complete instance-id={first} ip={address}" in console
    assert f"metadata: instance-id {first}" in console
    assert "metadata: installed the public key for root" in console
    assert "user-data-says-hello" in console and "user-data exited with status 0" in console

    # SSH with the key pair; inside, the metadata service answers this instance about itself.
    host_key = host_key_from_console(console)
    assert ssh(address, key["KeyMaterial"], host_key, "cat /run/instance-id") == first
    assert ssh(address, key["KeyMaterial"], host_key, "cat /data/user-data-was-here").strip() == f"user-data ran on {first}"
    md = "http://169.254.169.254/latest"
    assert ssh(address, key["KeyMaterial"], host_key, f"wget -q -O - {md}/meta-data/local-ipv4") == address
    assert ssh(address, key["KeyMaterial"], host_key, f"wget -q -O - {md}/meta-data/placement/availability-zone") \
        == "silvereye-1a"

    # The second instance learns only about itself: its own id and address, no user-data (the first's is not its).
    other = wait_console(ec2, second, BOOT_LINE)
    assert f"metadata: instance-id {second}" in other and first not in other and "running user-data" not in other
    second_address = instance(ec2, second)["PrivateIpAddress"]
    as_second = lambda command: ssh(second_address, key["KeyMaterial"], host_key_from_console(other), command)  # noqa: E731
    assert as_second(f"wget -q -O - {md}/meta-data/instance-id") == second
    assert as_second(f"wget -q -O - {md}/meta-data/local-ipv4") == second_address
    assert "404" in as_second(f"wget -O - {md}/user-data 2>&1 || true")
    assert first not in as_second(f"wget -q -O - {md}/dynamic/instance-identity/document")

    # Stop and start keep the root disk; the guest comes back with the same address.
    ssh(address, key["KeyMaterial"], host_key, "echo kept-across-stop > /data/marker; sync")
    ec2.stop_instances(InstanceIds=[first])
    stopped = wait_state(ec2, first, "stopped", timeout=180)
    assert stopped["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert "silvereye-tiny: shutting down" in ec2.get_console_output(InstanceId=first)["Output"]
    ec2.start_instances(InstanceIds=[first])
    assert wait_state(ec2, first, "running")["PrivateIpAddress"] == address
    console = wait_console(ec2, first, BOOT_LINE, after=1)
    host_key = host_key_from_console(console)
    assert ssh(address, key["KeyMaterial"], host_key, "cat /data/marker").strip() == "kept-across-stop"

    # Terminate: the domain, its files and its DHCP reservation go.
    driver = cloud.driver()
    try:
        directory = driver.instance_dir(first)
        assert (directory / "root.qcow2").exists()
        ec2.terminate_instances(InstanceIds=[first, second])
        for iid in (first, second):
            assert wait_state(ec2, iid, "terminated")["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
        assert driver.state(first).state == "absent" and driver.state(second).state == "absent"
        assert not directory.exists()
        conn = driver.nodes[0].connection()
        assert driver.network.reservations(conn) == []
        assert driver.orphans().empty()
    finally:
        driver.close()
    listed = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True,
                            text=True, check=True).stdout
    assert first not in listed and second not in listed
    assert instance(ec2, first)["State"]["Name"] == "terminated"  # still visible, as on EC2
