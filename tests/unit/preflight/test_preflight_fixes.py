"""--fix: each safe remedy, what it changes on the host, and what it says it changed."""

from __future__ import annotations

import ipaddress

from silvereye.preflight import fixes
from silvereye.preflight.model import REGISTRY, Status

URI = "qemu:///system"


def test_every_fix_belongs_to_a_check():
    assert set(fixes.FIXES) <= {c.id for c in REGISTRY}


def test_hostname_moves_off_loopback_onto_the_primary_address():
    before = "127.0.0.1\tlocalhost\n127.0.1.1\tnode1.example.com node1\n# comment\n::1 localhost ip6-localhost\n"
    after = fixes.hosts_with_name(before, "node1", ipaddress.IPv4Address("192.168.1.10"))
    assert after == "127.0.0.1\tlocalhost\n# comment\n::1 localhost ip6-localhost\n192.168.1.10\tnode1.example.com node1\n"
    # Idempotent: a second pass changes nothing.
    assert fixes.hosts_with_name(after, "node1", ipaddress.IPv4Address("192.168.1.10")) == after


def test_a_fqdn_hostname_keeps_its_short_alias_and_other_names_stay():
    before = "127.0.0.1 localhost vm node1.lab node1\n"
    after = fixes.hosts_with_name(before, "node1.lab", ipaddress.IPv4Address("10.0.0.5"))
    assert after == "127.0.0.1\tlocalhost\tvm\n10.0.0.5\tnode1.lab node1\n"


def test_fix_hostname_then_the_check_passes(healthy, ctx_for, check_on):
    healthy["files"]["/etc/hosts"] = "127.0.0.1 localhost\n127.0.1.1 node1\n"
    healthy["commands"]["getent ahostsv4 node1"] = "127.0.1.1 STREAM node1\n"
    ctx = ctx_for(healthy)
    assert check_on("hostname-resolves", healthy).status is Status.warn
    changes = fixes.FIXES["hostname-resolves"](ctx)
    assert changes == ["/etc/hosts now maps node1 to 192.168.1.10 (and no longer to a loopback address)"]
    assert ctx.host.written["/etc/hosts"] == "127.0.0.1 localhost\n192.168.1.10\tnode1\n"


def test_ip_forwarding_is_set_now_and_at_boot(healthy, ctx_for):
    healthy["commands"]["sysctl -w net.ipv4.ip_forward=1"] = "net.ipv4.ip_forward = 1\n"
    healthy["commands"]["mkdir -p /etc/sysctl.d"] = ""
    ctx = ctx_for(healthy)
    changes = fixes.FIXES["ip-forwarding"](ctx)
    assert "net.ipv4.ip_forward = 1" in ctx.host.written["/etc/sysctl.d/60-silvereye.conf"]
    assert ["sysctl", "-w", "net.ipv4.ip_forward=1"] in ctx.host.ran
    assert changes == ["wrote net.ipv4.ip_forward = 1 to /etc/sysctl.d/60-silvereye.conf", "set net.ipv4.ip_forward=1 now"]


def test_a_module_is_loaded_and_listed_for_boot_once(healthy, ctx_for):
    healthy["commands"]["modprobe tun"] = ""
    healthy["commands"]["modprobe vhost_net"] = ""
    ctx = ctx_for(healthy)
    assert fixes.FIXES["tun-device"](ctx) == ["loaded the kernel module tun", "added tun to /etc/modules-load.d/silvereye.conf so it loads at boot"]
    assert fixes.FIXES["vhost-net"](ctx)[1].startswith("added vhost_net")
    assert fixes.FIXES["tun-device"](ctx) == ["loaded the kernel module tun"]
    assert ctx.host.written["/etc/modules-load.d/silvereye.conf"].splitlines()[1:] == ["tun", "vhost_net"]


def test_a_failing_modprobe_is_reported_not_hidden(healthy, ctx_for):
    healthy["commands"]["modprobe kvm_intel"] = {"rc": 1, "stderr": "modprobe: ERROR: could not insert 'kvm_intel': Operation not supported\n"}
    ctx = ctx_for(healthy)
    try:
        fixes.FIXES["kvm-modules"](ctx)
    except fixes.FixFailed as e:
        assert "Operation not supported" in str(e)
    else:
        raise AssertionError("a failed modprobe must not count as a change")


def test_libvirt_without_systemd_starts_virtlogd_then_libvirtd(healthy, ctx_for):
    healthy["commands"]["ps -e -o comm=" ] = "init\n"
    healthy["commands"]["virtlogd -d"] = ""
    healthy["commands"]["libvirtd -d"] = ""
    ctx = ctx_for(healthy)
    assert fixes.FIXES["libvirt-reachable"](ctx) == ["started virtlogd (virtlogd -d)", "started libvirtd (libvirtd -d)"]


def test_with_systemd_daemons_start_through_systemctl(healthy, ctx_for):
    healthy["stats"]["/run/systemd/system"] = {"kind": "dir", "mode": "0755"}
    healthy["commands"]["systemctl start virtlogd"] = ""
    ctx = ctx_for(healthy)
    assert fixes.FIXES["virtlogd"](ctx) == ["started virtlogd (systemctl start virtlogd)"]


def test_the_default_network_stops_autostarting(healthy, ctx_for):
    healthy["commands"][f"virsh -c {URI} net-autostart --disable default"] = "Network default unmarked as autostarted\n"
    ctx = ctx_for(healthy)
    assert fixes.FIXES["libvirt-default-network"](ctx)[0].startswith("libvirt's 'default' network no longer starts at boot")
    assert ["virsh", "-c", URI, "net-autostart", "--disable", "default"] in ctx.host.ran
