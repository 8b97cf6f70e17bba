"""Instance types, the scheduler's decisions, and MAC/address allocation."""

from __future__ import annotations

import ipaddress

import pytest

from silvereye.compute import AddressSpaceExhausted, InsufficientCapacity, InvalidArgument, ids, instance_types
from silvereye.compute.network import InstanceNetwork, Reservation
from silvereye.compute.nodes import NodeCapacity
from silvereye.compute.scheduler import Demand, Scheduler

GIB = 1 << 30


def node(name, cpus=2, memory_mib=8192, disk_free=100 * GIB, vcpus_used=0, memory_used_mib=0):
    return NodeCapacity(name, cpus, memory_mib, 200 * GIB, disk_free, vcpus_used, memory_used_mib, 0)


# -- instance types -----------------------------------------------------------


def test_instance_types_cover_aws_and_eucalyptus_names():
    assert instance_types.get("t2.micro").memory_mib == 1024
    assert instance_types.get("m5.xlarge").vcpus == 4
    assert instance_types.get("m1.small").root_gib == 5
    assert instance_types.get("t2.nano").family == "t2"
    names = [t.name for t in instance_types.all_types()]
    assert len(names) == len(set(names))
    assert instance_types.DEFAULT_INSTANCE_TYPE in names


def test_unknown_instance_type_lists_the_known_ones():
    with pytest.raises(InvalidArgument, match="t2.micro"):
        instance_types.get("t9.gigantic")


# -- scheduler -----------------------------------------------------------------


def test_places_on_the_node_with_most_free_memory():
    s = Scheduler()
    claim = s.place([node("a", memory_used_mib=4096), node("b", memory_used_mib=1024)], Demand(1, 1024, GIB))
    assert claim.node == "b"


def test_ties_break_on_free_vcpus_then_name():
    s = Scheduler()
    assert s.place([node("b"), node("a")], Demand(1, 512, 0)).node == "a"
    s = Scheduler()
    assert s.place([node("a", vcpus_used=10), node("b")], Demand(1, 512, 0)).node == "b"


def test_claims_count_until_released_so_parallel_launches_spread():
    s = Scheduler(reserved_memory_mib=0)
    nodes = [node("a", memory_mib=2048), node("b", memory_mib=2048)]
    first = s.place(nodes, Demand(1, 1536, 0))
    second = s.place(nodes, Demand(1, 1536, 0))
    assert {first.node, second.node} == {"a", "b"}
    with pytest.raises(InsufficientCapacity):
        s.place(nodes, Demand(1, 1536, 0))
    s.release(first)
    assert s.place(nodes, Demand(1, 1536, 0)).node == first.node


def test_vcpus_overcommit_but_memory_and_disk_do_not():
    s = Scheduler(cpu_ratio=4.0, reserved_memory_mib=0, reserved_disk_bytes=0)
    assert s.place([node("a", cpus=2, vcpus_used=7)], Demand(1, 512, 0)).node == "a"
    with pytest.raises(InsufficientCapacity, match="vCPUs free"):
        s.place([node("a", cpus=2, vcpus_used=8)], Demand(1, 512, 0))
    with pytest.raises(InsufficientCapacity, match="MiB memory free"):
        s.place([node("a", memory_mib=1024)], Demand(1, 2048, 0))
    with pytest.raises(InsufficientCapacity, match="MiB disk free"):
        s.place([node("a", disk_free=GIB)], Demand(1, 512, 2 * GIB))


def test_insufficient_capacity_names_the_type_and_each_node():
    with pytest.raises(InsufficientCapacity) as e:
        Scheduler().place([node("a", memory_mib=1024), node("b", memory_mib=1024)], Demand(2, 4096, 0), "t2.medium")
    assert e.value.instance_type == "t2.medium"
    assert "a: " in str(e.value) and "b: " in str(e.value)
    with pytest.raises(InsufficientCapacity, match="no node is configured"):
        Scheduler().place([], Demand(1, 1, 0))


# -- MACs and addresses -----------------------------------------------------------


def test_macs_carry_the_silvereye_prefix_and_never_the_anchor():
    macs = {ids.random_mac() for _ in range(200)}
    assert len(macs) == 200
    assert all(m.startswith("d0:0d:") and ids.check_mac(m) for m in macs)
    assert "d0:0d:00:00:00:00" not in macs


def test_instance_ids_and_domain_names():
    iid = ids.new_instance_id()
    assert ids.check_instance_id(iid) and len(iid) == 19
    assert ids.instance_id_of(ids.domain_name(iid)) == iid
    assert ids.instance_id_of("silvereye-i-xyz") is None
    assert ids.instance_id_of("default") is None
    for bad in ("i-../etc", "i-0123", "I-01234567", "i-01234567\n", None):
        with pytest.raises(InvalidArgument):
            ids.check_instance_id(bad)


def test_addresses_skip_the_reserved_ones_and_fill_gaps():
    net = InstanceNetwork("n", "br0", "10.1.0.0/28")
    assert str(net.gateway) == "10.1.0.1"
    assert net.pick_address(set()) == "10.1.0.4"
    assert net.pick_address({"10.1.0.4", "10.1.0.6"}) == "10.1.0.5"
    every = {str(ipaddress.IPv4Address(i)) for i in range(int(ipaddress.IPv4Address("10.1.0.4")),
                                                             int(ipaddress.IPv4Address("10.1.0.14")) + 1)}
    with pytest.raises(AddressSpaceExhausted):
        net.pick_address(every)


def test_choices_in_flight_are_not_handed_out_twice():
    net = InstanceNetwork("n", "br0", "10.1.0.0/28")
    a = net.choose("i-0000000a", [])
    b = net.choose("i-0000000b", [])
    assert a.ip != b.ip and a.mac != b.mac
    net.settle("i-0000000a")
    assert net.choose("i-0000000c", [Reservation(b.mac, b.ip, "i-0000000b")]).ip == a.ip


def test_subnet_info_is_what_a_vpc_subnet_needs():
    net = InstanceNetwork("n", "br0", "172.31.0.0/20")
    info = net.subnet_info({"172.31.0.4", "172.31.0.9"})
    assert (info.cidr, info.gateway, info.dns, info.netmask) == ("172.31.0.0/20", "172.31.0.1", "172.31.0.1", "255.255.240.0")
    assert (info.first_usable, info.last_usable) == ("172.31.0.4", "172.31.15.254")
    assert info.usable == 4096 - 5 and info.available == 4096 - 5 - 2


def test_a_subnet_too_small_for_instances_is_refused():
    with pytest.raises(Exception, match="too small"):
        InstanceNetwork("n", "br0", "10.1.0.0/29")


def test_free_subnet_avoids_this_hosts_routes():
    from silvereye.compute.network import free_subnet, host_routes

    routes = host_routes()
    for _ in range(5):
        chosen = ipaddress.IPv4Network(free_subnet())
        assert chosen.prefixlen == 24 and chosen.subnet_of(ipaddress.IPv4Network("10.200.0.0/13"))
        assert not any(chosen.overlaps(r) for r in routes)
