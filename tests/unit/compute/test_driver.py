"""The driver's lifecycle on libvirt's test driver, the way the EC2 layer uses it."""

from __future__ import annotations

import ipaddress
import queue
import subprocess

import pytest

from silvereye.compute import (
    BootSource,
    InstanceExists,
    InstanceNotFound,
    InsufficientCapacity,
    InvalidArgument,
    LaunchRequest,
)
from silvereye.compute.driver import ROOT_DISK

OWNER = "123456789012"


def test_launch_defines_a_running_domain_with_its_own_overlay_and_address(driver, launch, base_image):
    info = launch()
    assert info.state.state == "running"
    assert info.domain_name == f"silvereye-{info.instance_id}"
    assert (info.owner, info.instance_type, info.image_id) == (OWNER, "t2.nano", "ami-0123abcd")
    assert info.mac.startswith("d0:0d:")
    assert ipaddress.IPv4Address(info.private_ip) in ipaddress.IPv4Network("10.213.0.0/28")

    overlay = driver.instance_dir(info.instance_id) / ROOT_DISK
    out = subprocess.run(["qemu-img", "info", str(overlay)], capture_output=True, text=True, check=True).stdout
    assert str(base_image.path) in out  # backed by the cached base, not a copy of it
    assert overlay.stat().st_size < 1 << 20

    reservations = driver.network.reservations(driver.nodes[0].connection())
    assert [(r.mac, r.ip, r.name) for r in reservations] == [(info.mac, info.private_ip, info.instance_id)]


def test_addresses_and_macs_are_unique_and_the_subnet_runs_out_cleanly(driver, launch):
    # A /28 has 16 addresses: network, gateway, DNS, one reserved and broadcast leave 11.
    assert driver.subnet_info().available == 11
    launched = [launch() for _ in range(11)]
    assert len({i.private_ip for i in launched}) == 11
    assert len({i.mac for i in launched}) == 11
    assert min(ipaddress.IPv4Address(i.private_ip) for i in launched) == ipaddress.IPv4Address("10.213.0.4")
    assert driver.subnet_info().available == 0
    with pytest.raises(Exception, match="every address of subnet 10.213.0.0/28 is in use"):
        launch()
    # The failed launch left nothing behind.
    assert len(driver.list_instances()) == 11
    assert sorted(p.name for p in driver.instances_path.iterdir()) == sorted(i.instance_id for i in launched)
    driver.terminate(launched[3].instance_id)
    assert launch().private_ip == launched[3].private_ip


def test_stop_start_reboot_and_states(driver, launch):
    info = launch()
    iid = info.instance_id
    assert driver.stop(iid, timeout=0.3).state == "shutoff"
    assert driver.stop(iid).state == "shutoff"  # idempotent
    assert driver.start(iid).state == "running"
    assert driver.start(iid).state == "running"  # idempotent
    assert driver.reboot(iid, timeout=0.2).state == "running"
    assert driver.stop(iid, force=True).state == "shutoff"
    assert driver.describe(iid).private_ip == info.private_ip  # the address stays with a stopped instance
    assert driver.state(iid).ec2_name == "stopped"
    driver.terminate(iid)
    assert driver.state(iid).ec2_name == "terminated"


def test_terminate_removes_domain_files_and_reservation_and_is_idempotent(driver, launch):
    info = launch()
    assert driver.terminate(info.instance_id) is True
    assert driver.state(info.instance_id).state == "absent"
    assert not driver.instance_dir(info.instance_id).exists()
    assert driver.network.reservations(driver.nodes[0].connection()) == []
    with pytest.raises(InstanceNotFound):
        driver.describe(info.instance_id)
    assert driver.terminate(info.instance_id) is False


def test_launching_an_existing_instance_id_is_refused(driver, launch):
    info = launch()
    with pytest.raises(InstanceExists):
        launch(instance_id=info.instance_id)
    assert len(driver.list_instances()) == 1


def test_bad_requests_name_the_bad_value(driver, launch):
    with pytest.raises(InvalidArgument, match="not an instance type"):
        launch(instance_type="x9.huge")
    with pytest.raises(InvalidArgument, match="not an instance id"):
        launch(instance_id="i-../../../etc")
    with pytest.raises(InvalidArgument, match="not an account id"):
        launch(owner="alice")
    assert driver.list_instances() == []


def test_a_type_too_big_for_every_node_is_insufficient_capacity(driver, launch):
    # The test node has 16 GiB of memory, 512 MiB of it kept for the host: a 16 GiB instance does not fit.
    with pytest.raises(InsufficientCapacity, match="no node has room for m5.xlarge") as e:
        launch(instance_type="m5.xlarge")
    assert "MiB memory free" in str(e.value)
    assert driver.list_instances() == []
    assert driver.network.reservations(driver.nodes[0].connection()) == []


def test_start_of_a_stopped_instance_checks_capacity(driver, launch):
    small = launch(instance_type="t2.large")  # 8 GiB of the 16 GiB
    driver.stop(small.instance_id, force=True)
    other = launch(instance_type="t2.large")
    with pytest.raises(InsufficientCapacity):
        driver.start(small.instance_id)
    driver.terminate(other.instance_id)
    assert driver.start(small.instance_id).state == "running"


def test_whole_disk_image_boots_from_disk(driver, launch, base_image):
    info = launch(boot=BootSource(root=base_image, root_size=256 << 20))
    xml = driver.nodes[0].connection().lookupByName(info.domain_name).XMLDesc(0)
    assert "<kernel>" not in xml and "<boot dev='hd'/>" in xml
    out = subprocess.run(
        ["qemu-img", "info", str(driver.instance_dir(info.instance_id) / ROOT_DISK)], capture_output=True, text=True
    ).stdout
    assert "256 MiB" in out


def test_lifecycle_events_reach_subscribers(driver, launch):
    seen: queue.Queue = queue.Queue()
    sub = driver.subscribe(seen.put)
    try:
        info = launch()
        driver.stop(info.instance_id, force=True)
        wanted = {("defined", info.instance_id), ("started", info.instance_id), ("stopped", info.instance_id)}
        got = set()
        details = {}
        while not wanted <= got:
            ev = seen.get(timeout=5)
            got.add((ev.event, ev.instance_id))
            details[ev.event] = ev.detail
            assert ev.node == "local"
        assert details["stopped"] == "destroyed"
    finally:
        sub.cancel()


def test_reconciliation_lists_ours_and_finds_leftovers(driver, launch, cfg):
    a, b = launch(), launch()
    listed = {i.instance_id: i for i in driver.list_instances()}
    assert set(listed) == {a.instance_id, b.instance_id}
    assert listed[a.instance_id].recognised and listed[a.instance_id].owner == OWNER

    conn = driver.nodes[0].connection()
    # A crash between steps: b's domain vanished but its files and reservation stayed,
    # and a domain with our name but not our metadata appeared.
    conn.lookupByName(b.domain_name).destroy()
    conn.lookupByName(b.domain_name).undefine()
    stranger = conn.defineXML(
        "<domain type='test'><name>silvereye-i-00000000</name><memory>65536</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    orphans = driver.orphans()
    assert [r.name for r in orphans.reservations["local"]] == [b.instance_id]
    assert orphans.instance_dirs["local"] == [b.instance_id]
    assert [i.instance_id for i in orphans.unrecognised_domains] == ["i-00000000"]
    driver.clean(orphans)
    assert driver.orphans().empty()
    assert [i.instance_id for i in driver.list_instances()] == [a.instance_id]
    assert stranger.name() not in [d.name() for d in conn.listAllDomains()]


def test_capacity_counts_running_domains(driver, launch):
    before = driver.capacity()[0]
    launch(instance_type="t2.small")
    after = driver.capacity()[0]
    assert after.memory_used_mib - before.memory_used_mib == 2048
    assert after.vcpus_used - before.vcpus_used == 1
    assert after.node == "local" and after.cpus == 4


def test_auto_domain_type_asks_the_resolver_once_per_node(cfg, base_image):
    from silvereye.compute import ComputeDriver

    asked = []

    def probe(node):
        asked.append(node.name)
        return "qemu"

    drv = ComputeDriver(cfg, domain_type="auto", resolve_domain_type=probe, metadata_redirect=False)
    assert drv.domain_type_for(drv.nodes[0]) == "qemu"
    assert drv.domain_type_for(drv.nodes[0]) == "qemu"
    assert asked == ["local"]
    with pytest.raises(Exception, match="nothing probed KVM"):
        ComputeDriver(cfg, domain_type="auto", metadata_redirect=False).domain_type_for(drv.nodes[0])


def test_when_no_node_answers_a_launch_is_insufficient_capacity(cfg, base_image):
    from silvereye.compute import ComputeDriver
    from silvereye.compute.nodes import Node

    drv = ComputeDriver(cfg, nodes=[Node("gone", "test:///no/such/node.xml")], metadata_redirect=False)
    req = LaunchRequest("i-0123456789abcdef0", OWNER, "t2.nano", BootSource(root=base_image))
    with pytest.raises(InsufficientCapacity, match="no node is reachable .*gone"):
        drv.launch(req)
    assert drv.list_instances() == [] and drv.capacity() == []


def test_parallel_launches_get_distinct_addresses_and_macs(driver, launch):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        launched = list(pool.map(lambda _: launch(), range(8)))
    assert len({i.private_ip for i in launched}) == 8
    assert len({i.mac for i in launched}) == 8
    reserved = driver.network.reservations(driver.nodes[0].connection())
    assert sorted(r.ip for r in reserved) == sorted(i.private_ip for i in launched)
