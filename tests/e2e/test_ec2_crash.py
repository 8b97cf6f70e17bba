"""kill -9 of the server while instances launch, then a restart: nothing is orphaned, nothing is lost.

Records are committed before RunInstances answers and libvirt is the ground
truth after a crash: at start-up the server finds each pending instance's
domain (adopting it, starting it, or launching it again) and cleans what a
half-done launch left. Afterwards every record is running or terminated,
the domains on the cloud's network are exactly the running instances, and
no DHCP reservation or instance directory is left without its instance.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.ec2_cloud import cloud  # noqa: F401 - a fixture
from tests.e2e.ec2_cloud import BOOT_LINE, wait_console, wait_state

pytestmark = pytest.mark.e2e


def all_instances(ec2) -> dict[str, dict]:
    return {i["InstanceId"]: i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}


def check_consistent(cloud, ec2) -> set[str]:
    """Records and libvirt agree and nothing is orphaned; returns the running instances."""
    records = all_instances(ec2)
    running = {iid for iid, i in records.items() if i["State"]["Name"] == "running"}
    assert {i["State"]["Name"] for i in records.values()} <= {"running", "terminated"}, records
    driver = cloud.driver()
    try:
        domains = {i.instance_id for i in driver.list_instances() if i.network == cloud.network}
        assert domains == running
        reservations = {r.name for r in driver.network.reservations(driver.nodes[0].connection())}
        assert reservations == running
        assert driver.orphans().empty()
        assert sorted(p.name for p in driver.instances_path.iterdir()) == sorted(running)
    finally:
        driver.close()
    return running


def test_kill_9_during_run_instances_then_restart_leaves_nothing_orphaned(cloud):
    tiny = cloud.install_tiny()
    ec2 = cloud.server.client("ec2")

    # 1. Killed while the request is being served.
    answered = {}

    def run() -> None:
        try:
            answered["r"] = ec2.run_instances(ImageId=tiny["image_id"], MinCount=2, MaxCount=2, InstanceType="t2.nano")
        except Exception as e:  # the connection dies with the server
            answered["error"] = e

    caller = threading.Thread(target=run)
    caller.start()
    time.sleep(0.15)
    cloud.server.kill()
    caller.join(30)
    cloud.server.start()
    ec2 = cloud.server.client("ec2")

    # 2. Killed right after RunInstances answered, while its launches run in the background.
    launched = ec2.run_instances(ImageId=tiny["image_id"], MinCount=3, MaxCount=3, InstanceType="t2.nano")
    cloud.server.kill()
    cloud.server.start()
    ec2 = cloud.server.client("ec2")

    ids = [i["InstanceId"] for i in launched["Instances"]]
    for iid in ids:  # the answered launch was carried through by the restarted server
        wait_state(ec2, iid, "running", timeout=180)
    for iid in ids:
        assert f"instance-id={iid}" in wait_console(ec2, iid, BOOT_LINE)
    for iid, found in all_instances(ec2).items():  # whatever the first request left is settled too
        if found["State"]["Name"] == "pending":
            wait_state(ec2, iid, "running", timeout=180)
    running = check_consistent(cloud, ec2)
    assert set(ids) <= running

    ec2.terminate_instances(InstanceIds=sorted(running))
    for iid in running:
        wait_state(ec2, iid, "terminated")
    assert check_consistent(cloud, ec2) == set()
