"""Reconciliation: the decision table on its own, then the reconciler against a libvirt that disagrees."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
import sqlalchemy as sa

from silvereye.compute import BootSource, LaunchRequest, ids
from silvereye.services.ec2 import controller
from silvereye.services.ec2 import reconcile as rules
from silvereye.services.ec2.tables import instances as t
from tests.unit.ec2.harness import Ec2Server


@pytest.mark.parametrize("record, domain, behavior, stale, expected", [
    ("pending", "absent", "stop", False, "none"),  # its launch is on the way
    ("pending", "absent", "stop", True, "relaunch"),  # its launch was lost
    ("pending", "running", "stop", False, "adopt"),
    ("pending", "shutoff", "stop", False, "start"),
    ("running", "absent", "stop", False, "terminated"),
    ("running", "running", "stop", False, "none"),
    ("running", "shutdown", "stop", False, "none"),  # going down: its stop event will follow
    ("running", "shutoff", "stop", False, "stopped"),
    ("running", "shutoff", "terminate", False, "terminate"),
    ("running", "crashed", "terminate", False, "stopped"),
    ("stopping", "running", "stop", False, "stop"),
    ("stopping", "shutoff", "stop", False, "stopped"),
    ("stopped", "running", "stop", False, "adopt"),
    ("stopped", "shutoff", "stop", False, "none"),
    ("stopped", "absent", "stop", False, "terminated"),
    ("shutting-down", "running", "stop", False, "terminate"),
    ("shutting-down", "absent", "stop", False, "terminate"),
    ("terminated", "running", "stop", False, "none"),
])
def test_decisions(record, domain, behavior, stale, expected):
    assert rules.decide(record, domain, shutdown_behavior=behavior, stale=stale).kind == expected


def test_reasons_say_who_shut_it_down():
    guest = rules.decide("running", "shutoff")
    assert guest.reason[0] == "Client.InstanceInitiatedShutdown"
    assert rules.decide("running", "crashed").reason[1].endswith("crashed")
    assert rules.decide("stopped", "absent").reason[0] == "Server.InternalError"
    assert rules.unrecorded_domain(None, True) == "clean"
    assert rules.unrecorded_domain("terminated", False) == "report"
    assert rules.unrecorded_domain("running", True) == "keep"


@pytest.fixture
def cloud(tmp_path, image):
    s = Ec2Server(tmp_path).start()
    yield s
    s.stop()


@pytest.fixture
def image(tmp_path):
    from silvereye.services.ec2 import install
    from tests.unit.ec2.harness import image_files

    return image_files(tmp_path / "files"), install


def _launch(cloud, image, **kw):
    files, install = image
    installed = install.install_image(cloud.config, cloud.store, "recon", root=files["root"], root_format="qcow2",
                                      kernel=files["kernel"], ramdisk=files["ramdisk"])
    ec2 = cloud.client("ec2", cloud.account("admin"))
    iid = ec2.run_instances(ImageId=installed.image_id, MinCount=1, MaxCount=1, InstanceType="t1.micro",
                            **kw)["Instances"][0]["InstanceId"]
    cloud.settle()
    return ec2, iid


def _state(ec2, iid):
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return inst["State"]["Name"], inst.get("StateReason", {}).get("Code")


def test_a_vanished_domain_makes_its_instance_terminated(cloud, image):
    ec2, iid = _launch(cloud, image)
    conn = cloud.runtime.driver.nodes[0].connection()
    dom = conn.lookupByName(ids.domain_name(iid))
    dom.destroy()
    dom.undefine()  # gone behind silvereye's back
    controller.reconcile(cloud.runtime)
    cloud.settle()
    assert _state(ec2, iid) == ("terminated", "Server.InternalError")
    assert not cloud.runtime.driver.instance_dir(iid).exists()  # its leftovers went too
    assert cloud.runtime.driver.orphans().empty()


def test_a_guest_that_powers_off_is_stopped_or_terminated_by_its_shutdown_behaviour(cloud, image):
    ec2, keep = _launch(cloud, image)
    _, gone = _launch(cloud, image, InstanceInitiatedShutdownBehavior="terminate")
    conn = cloud.runtime.driver.nodes[0].connection()
    for iid in (keep, gone):
        conn.lookupByName(ids.domain_name(iid)).destroy()  # what the guest's own poweroff looks like
        controller.reconcile_one(cloud.runtime, iid)
    cloud.settle()
    assert _state(ec2, keep) == ("stopped", "Client.InstanceInitiatedShutdown")
    assert _state(ec2, gone) == ("terminated", "Client.InstanceInitiatedShutdown")


def test_domains_without_records_are_cleaned_when_ours_and_only_reported_otherwise(cloud, image, monkeypatch):
    rt = cloud.runtime
    rt.subscription.cancel()  # this is about what reconciliation finds, not about events
    files, _ = image
    cache = rt.driver.images
    boot = BootSource(root=cache.add(files["root"], "qcow2"), kernel=cache.add_blob(files["kernel"]))
    rt.ensure_network()
    # A domain of this cloud made outside the API (a tool on libvirt, a restored store) ...
    ours = rt.driver.launch(LaunchRequest(ids.new_instance_id(), "123456789012", "t1.micro", boot))
    # ... and a domain of another cloud on the same libvirt: same network name, files elsewhere.
    foreign_iid = ids.new_instance_id()
    rt.driver.launch(LaunchRequest(foreign_iid, "123456789012", "t1.micro", boot))
    subprocess.run(["rm", "-rf", str(rt.driver.instance_dir(foreign_iid))], check=True)
    names = lambda: {i.instance_id for i in rt.driver.list_instances()}  # noqa: E731
    counts = controller.reconcile(rt)
    cloud.settle()
    assert {ours.instance_id, foreign_iid} <= names()  # made moments ago: left alone a while
    assert counts["reported"] == 1 and counts["cleaned"] == 0
    monkeypatch.setattr(controller, "UNRECORDED_GRACE", dt.timedelta(seconds=-1))
    counts = controller.reconcile(rt)
    cloud.settle()
    assert ours.instance_id not in names() and foreign_iid in names()
    assert counts["cleaned"] >= 1 and counts["reported"] == 1
    rt.driver.terminate(foreign_iid)


def test_a_pending_record_whose_launch_was_lost_is_launched_again(cloud, image):
    ec2, iid = _launch(cloud, image)
    rt = cloud.runtime
    rt.subscription.cancel()  # no lifecycle events: this is about what a restart's reconciliation finds
    rt.driver.terminate(iid)
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    with cloud.store.write() as conn:  # as if the server died between commit and launch
        conn.execute(sa.update(t).where(t.c.id == iid).values(state="pending", state_changed=old, node=None,
                                                                private_ip=None, mac=None))
    controller.reconcile(rt)
    cloud.settle()
    assert _state(ec2, iid)[0] == "running"
    assert iid in {i.instance_id for i in rt.driver.list_instances()}
