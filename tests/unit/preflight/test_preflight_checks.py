"""Every check on a healthy host, and on a host with exactly one thing wrong.

The healthy host (conftest.healthy_facts) passes everything; each case below
breaks one fact and expects the check to say so with the right status, a
detail naming the thing, and a remedy.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from silvereye.preflight.model import REGISTRY, Status
from silvereye.preflight.roles import Role

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
URI = "qemu:///system"


def hexip(ip: str) -> str:
    return ipaddress.IPv4Address(ip).packed[::-1].hex().upper()


def sock_line(ip: str, port: int, state: str) -> str:
    return f"   1: {hexip(ip)}:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 999 1\n"


def route_line(dev: str, dest: str, gw: str, mask: str, flags: str = "0001") -> str:
    return f"{dev}\t{hexip(dest)}\t{hexip(gw)}\t{flags}\t0\t0\t0\t{hexip(mask)}\t0\t0\t0\n"


# -- small mutations of the healthy facts -----------------------------------


def file(path, text):
    return lambda f: f["files"].__setitem__(path, text)


def cmd(argv, out):
    return lambda f: f["commands"].__setitem__(argv, out)


def gone(path):
    return lambda f: f["stats"].__setitem__(path, None) if path in f["stats"] else f["files"].__setitem__(path, None)


def both(*muts):
    def apply(f):
        for m in muts:
            m(f)

    return apply


def env(**kv):
    return lambda f: f["env"].update(kv)


def meminfo(kib):
    return file("/proc/meminfo", f"MemTotal:       {kib} kB\n")


def df_avail(n_bytes):
    return cmd("df -P -B1 /var/lib", f"Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/sda1 1 1 {n_bytes} 1% /\n")


def addrs(*pairs, dynamic=False):
    info = [{"family": "inet", "local": a, "prefixlen": p, **({"dynamic": True} if dynamic else {})} for a, p in pairs]
    text = json.dumps([{"ifname": "eth0", "addr_info": info}])
    return both(cmd("ip -j -4 addr show dev eth0", text), cmd("ip -j -4 addr show", text))


def resolves(*ips):
    return cmd("getent ahostsv4 node1", "".join(f"{ip}    STREAM node1\n" for ip in ips))


NO_VMX = file("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu sse2 lm\n\nprocessor\t: 1\nflags\t\t: fpu sse2 lm\n")
NO_KVM = both(NO_VMX, gone("/dev/kvm"), gone("/sys/module/kvm_intel/initstate"))
NFT_DROP = {"nftables": [
    {"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input", "policy": "drop"}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": None}]}},
]}  # fmt: skip
NFT_OPEN = {"nftables": NFT_DROP["nftables"] + [
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [8773, {"range": [8775, 8780]}]}}},
        {"accept": None}]}},
]}  # fmt: skip


CASES = [
    # id, mutation, extra run_check kwargs, status, fragment of the detail, fragment of the remedy
    ("root", cmd("id -u", "1000\n"), {}, "fail", "uid 1000", "as root"),
    ("os-supported", file("/etc/os-release", 'NAME="Debian GNU/Linux"\nVERSION_ID="11"\nID=debian\n'), {}, "fail", "older than Debian GNU/Linux 12", "Debian 12+"),
    ("os-supported", file("/etc/os-release", 'NAME="Ubuntu"\nVERSION_ID="20.04"\nID=ubuntu\nID_LIKE=debian\n'), {}, "fail", "older than Ubuntu 22.04", "Ubuntu 22.04+"),
    ("os-supported", file("/etc/os-release", 'PRETTY_NAME="Arch Linux"\nID=arch\n'), {}, "fail", "Arch Linux is not a distribution silvereye knows", "RHEL"),
    ("memory", meminfo(1024 * 1024), {}, "fail", "1.0 GiB of memory", "2 GiB"),
    ("memory", meminfo(4 * 1024 * 1024), {}, "warn", "4.0 GiB", "8 GiB"),
    ("cpu-count", file("/proc/cpuinfo", "processor\t: 0\nflags\t\t: vmx\n"), {}, "warn", "1 CPU", "2 or more"),
    ("disk-space", df_avail(10 * 2**30), {}, "fail", "only 10.0 GiB free on /", "compute.instances_dir"),
    ("disk-space", df_avail(50 * 2**30), {}, "warn", "50.0 GiB free on /", "larger filesystem"),
    ("swap", both(file("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n"), meminfo(4 * 1024 * 1024)), {}, "warn", "no swap", "swapon"),
    ("swap", file("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n"), {}, "note", "no swap", ""),
    ("battery", both(file("/sys/class/power_supply/BAT0/type", "Battery\n"), file("/sys/class/power_supply/BAT0/status", "Discharging\n"),
                     file("/sys/class/power_supply/BAT0/capacity", "43\n")), {}, "warn", "on battery (BAT0 at 43%)", "mains"),
    ("time-sync", cmd("ps -e -o comm=", "init\nlibvirtd\n"), {}, "warn", "no chronyd", "apt-get install -y chrony"),
    ("security-module", file("/sys/fs/selinux/enforce", "1\n"), {"cfg": {"compute": {"images_dir": "/srv/images"}}}, "warn", "/srv/images", "semanage fcontext -a -t virt_image_t '/srv/images(/.*)?'"),
    ("previous-install", both(file("/var/lib/silvereye/silvereye.db", "x"), cmd(f"virsh -c {URI} net-uuid silvereye", "1c7f\n")), {}, "warn", "/var/lib/silvereye (silvereye.db); libvirt network 'silvereye'", "virsh net-undefine silvereye"),
    ("cpu-virt-flags", NO_KVM, {}, "warn", "neither vmx nor svm: instances will run under software emulation (TCG)", "VT-x"),
    ("cpu-virt-flags", NO_KVM, {"cfg": {"compute": {"domain_type": "kvm"}}}, "fail", "compute.domain_type is 'kvm'", "domain_type: auto"),
    ("cpu-virt-flags", NO_KVM, {"cfg": {"compute": {"domain_type": "qemu"}}}, "note", "software emulation anyway", ""),
    ("cpu-virt-flags", NO_VMX, {}, "note", "/dev/kvm exists", ""),
    ("kvm-modules", both(gone("/dev/kvm"), gone("/sys/module/kvm_intel/initstate")), {}, "warn", "kvm_intel is not loaded", "modprobe kvm_intel"),
    ("kvm-device", gone("/dev/kvm"), {}, "warn", "no /dev/kvm: instances will run under software emulation", "modprobe kvm_intel"),
    ("kvm-device", lambda f: f["stats"]["/dev/kvm"].update(mode="0600"), {}, "warn", "crw-------", "chmod 0660 /dev/kvm"),
    ("kvm-usable", file("/var/cache/silvereye/kvm-probe.json", json.dumps({"6.1.0-56-amd64|QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)|linux-image-6.1.0-56-cloud-amd64|kvm": {"usable": False, "detail": "a probe kernel did not finish booting under KVM within 20 s"}})),
     {}, "warn", "KVM is present but unusable: a probe kernel did not finish booting under KVM within 20 s (cached verdict): instances will run under software emulation (TCG), several times slower", "falls back"),
    ("kvm-usable", gone("/dev/kvm"), {}, "warn", "without /dev/kvm", "VT-x"),
    ("tun-device", gone("/dev/net/tun"), {}, "fail", "no /dev/net/tun", "modprobe tun"),
    ("vhost-net", gone("/dev/vhost-net"), {}, "warn", "no /dev/vhost-net", "modprobe vhost_net"),
    ("bridge-support", both(gone("/sys/module/bridge/initstate"), cmd("modinfo -F filename bridge", "/lib/modules/x/bridge.ko\n")), {}, "note", "not loaded yet", "modprobe bridge"),
    ("bridge-support", both(gone("/sys/module/bridge/initstate"), cmd("modinfo -F filename bridge", {"rc": 1})), {}, "fail", "no bridge support", "CONFIG_BRIDGE"),
    ("cgroups", file("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io pids\n"), {}, "warn", "cgroup v2 lacks memory", "+memory"),
    ("cgroups", both(gone("/sys/fs/cgroup/cgroup.controllers"), file("/proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\nmemory\t0\t1\t1\n")), {}, "warn", "cgroup v1 lacks cpuacct", "mount -t cgroup"),
    ("required-programs", both(gone("/usr/bin/qemu-img"), gone("/usr/bin/dnsmasq")), {}, "fail", "missing: qemu-img (makes instance disks and volumes); dnsmasq", "apt-get install -y dnsmasq-base qemu-utils"),
    ("required-programs", both(gone("/usr/bin/qemu-img"), file("/etc/os-release", 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n')), {}, "fail", "qemu-img", "dnf install -y qemu-img"),
    ("optional-programs", gone("/usr/bin/haproxy"), {}, "warn", "haproxy is not installed", "apt-get install -y haproxy"),
    ("libvirt-reachable", both(cmd(f"virsh -c {URI} version", {"rc": 1, "stderr": "error: failed to connect to the hypervisor\n"}), cmd("ps -e -o comm=", "chronyd\n")), {}, "fail", "failed to connect to the hypervisor", "libvirtd -d"),
    ("libvirt-reachable", gone("/usr/bin/virsh"), {}, "fail", "virsh is not installed", "libvirt-clients"),
    ("virtlogd", gone("/run/libvirt/virtlogd-sock"), {}, "fail", "virtlogd-sock is missing", "virtlogd -d"),
    ("image-path-access", lambda f: f["stats"].update({"/root": {"kind": "dir", "mode": "0700"}}), {"cfg": {"compute": {"images_dir": "/root/images"}}}, "fail", "/root (drwx------, owner uid 0) keeps QEMU's user libvirt-qemu out of /root/images", "chmod o+x /root"),
    ("default-route", file("/proc/net/route", ROUTE_HEADER), {}, "fail", "no default route", "ip route add default"),
    ("primary-interface", file("/sys/class/net/eth0/carrier", "0\n"), {}, "fail", "eth0 appears to be in septic shock: no carrier. I recommend against resuscitation", "plug in a cable, or pick another interface with --interface"),
    ("primary-interface", lambda f: None, {"interface": "em1"}, "fail", "em1 does not exist (this host has: eth0)", "--interface"),
    ("primary-interface", file("/sys/class/net/eth0/flags", "0x1002\n"), {}, "fail", "eth0 is administratively down", "ip link set eth0 up"),
    ("primary-interface", addrs(), {}, "fail", "no IPv4 address", "give eth0 an address"),
    ("interface-wired", file("/sys/class/net/eth0/phy80211/name", "phy0\n"), {}, "warn", "eth0 is wireless", "wired"),
    ("networkmanager", both(cmd("ps -e -o comm=", "chronyd\nNetworkManager\n"), cmd("nmcli -t -f DEVICE,STATE device", "eth0:connected\nlo:unmanaged\n")), {}, "warn", "NetworkManager manages eth0", "nmcli device set eth0 managed no"),
    ("address-static", addrs(("192.168.1.10", 24), dynamic=True), {}, "warn", "192.168.1.10/24 on eth0 came from DHCP", "static address"),
    ("single-address", addrs(("192.168.1.10", 24), ("192.168.1.11", 24)), {}, "warn", "192.168.1.10/24, 192.168.1.11/24", "api.public_host"),
    ("hostname-valid", file("/proc/sys/kernel/hostname", "bad_name\n"), {}, "fail", "'bad_name' is not a valid DNS name", "hostnamectl"),
    ("hostname-valid", file("/proc/sys/kernel/hostname", "localhost\n"), {}, "fail", "is 'localhost'", "hostnamectl"),
    ("hostname-resolves", resolves("127.0.1.1"), {}, "warn", "'node1' resolves to 127.0.1.1, a loopback address", "add '192.168.1.10 node1' to /etc/hosts"),
    ("hostname-resolves", resolves("127.0.1.1"), {"role": Role.node}, "fail", "loopback", "/etc/hosts"),
    ("hostname-resolves", cmd("getent ahostsv4 node1", {"rc": 2}), {"role": Role.frontend}, "fail", "does not resolve", "/etc/hosts"),
    ("hostname-resolves", resolves("10.9.9.9"), {}, "warn", "10.9.9.9, which is not an address of this host", "/etc/hosts"),
    ("proxy-variables", env(https_proxy="http://proxy:3128", no_proxy="localhost"), {}, "warn", "https_proxy (the environment) set and no_proxy does not cover 127.0.0.1, 192.168.1.10, s3.silvereye.internal", "export no_proxy=localhost,127.0.0.1,192.168.1.10,.silvereye.internal"),
    ("proxy-variables", file("/etc/environment", 'HTTP_PROXY="http://proxy:3128"\n'), {}, "warn", "http_proxy (/etc/environment)", "no_proxy"),
    ("api-ports-free", both(file("/proc/net/tcp", TCP_HEADER + sock_line("127.0.0.1", 8773, "0A")), cmd("ss -Hltnp 'sport = :8773'", 'LISTEN 0 5 127.0.0.1:8773 0.0.0.0:* users:(("python3",pid=4242,fd=3))\n')),
     {}, "fail", "port 8773/tcp (api.port) is taken by python3 (pid 4242), listening on 127.0.0.1", "api.port"),
    ("api-ports-free", file("/proc/net/tcp6", TCP_HEADER + "   0: 00000000000000000000000000000000:2247 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1\n"),
     {}, "fail", "port 8775/tcp (network.metadata_port) is taken, listening on ::", "network.metadata_port"),
    ("firewall", cmd("nft -j list ruleset", json.dumps(NFT_DROP)), {}, "warn", "chain 'inet filter input' drops by default and accepts none of 8773/tcp, 8775/tcp", "nft add rule inet filter input tcp dport { 8773, 8775 } accept"),
    ("firewall", both(cmd("ps -e -o comm=", "chronyd\nfirewalld\n"), cmd("firewall-cmd --list-ports", "22/tcp 8773/tcp\n")), {}, "warn", "firewalld is running and does not open 8775/tcp", "firewall-cmd --permanent --add-port=8775/tcp"),
    ("firewall", both(gone("/usr/sbin/nft"), cmd("iptables -S INPUT", "-P INPUT DROP\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n")), {}, "warn", "INPUT policy is DROP", "iptables -I INPUT -p tcp --dport 8773 -j ACCEPT"),
    ("dhcp-server", both(file("/proc/net/udp", TCP_HEADER + sock_line("0.0.0.0", 67, "07")), cmd("ss -Hlunp 'sport = :67'", 'UNCONN 0 0 0.0.0.0:67 0.0.0.0:* users:(("dhcpd",pid=812,fd=7))\n')),
     {}, "warn", "dhcpd (pid 812) serves DHCP on every interface (udp/67 on 0.0.0.0)", "own interface"),
    ("dhcp-server", file("/proc/net/udp", TCP_HEADER + sock_line("0.0.0.0", 67, "07")), {}, "warn", "listens on 0.0.0.0:67/udp and ss cannot tell", "stop it"),
    ("libvirt-default-network", cmd(f"virsh -c {URI} net-dumpxml default", "<network><bridge name='virbr0'/><ip address='172.31.0.1' netmask='255.255.255.0'/></network>"),
     {}, "fail", "its subnet 172.31.0.0/24 overlaps network.subnet 172.31.0.0/20", "virsh net-destroy default; virsh net-autostart --disable default"),
    ("libvirt-default-network", both(cmd(f"virsh -c {URI} net-dumpxml default", "<network><bridge name='sebr0'/><ip address='10.1.0.1' prefix='24'/></network>"),
                                     cmd(f"virsh -c {URI} net-info default", "Active: no\nAutostart: yes\n")), {}, "warn", "it uses the bridge sebr0", "virsh net-autostart --disable default"),
    ("subnet-free", file("/proc/net/route", ROUTE_HEADER + route_line("eth0", "0.0.0.0", "192.168.1.1", "0.0.0.0", "0003") + route_line("docker0", "172.31.5.0", "0.0.0.0", "255.255.255.0")),
     {}, "fail", "network.subnet 172.31.0.0/20 overlaps 172.31.5.0/24 on docker0", "network.subnet"),
    ("ip-forwarding", file("/proc/sys/net/ipv4/ip_forward", "0\n"), {}, "warn", "net.ipv4.ip_forward is 0", "sysctl -w net.ipv4.ip_forward=1"),
    ("ip-forwarding", file("/etc/sysctl.d/99-local.conf", "net.ipv4.ip_forward=0\n"), {}, "note", "/etc/sysctl.d/99-local.conf sets 0", "60-silvereye.conf"),
    ("public-range", lambda f: None, {"cfg": {"network": {"public_range": "10.0.0.10-10.0.0.20"}}}, "fail", "not inside eth0's subnet (192.168.1.0/24)", "192.168.1.0/24"),
    ("public-range", lambda f: None, {"cfg": {"network": {"public_range": "192.168.1.0/30"}}}, "fail", "includes 192.168.1.1 (the gateway)", "exclude 192.168.1.1"),
    ("public-range", lambda f: None, {"cfg": {"network": {"public_range": "192.168.1.5-192.168.1.12"}}}, "fail", "includes 192.168.1.10 (an address of eth0)", "exclude"),
    ("public-range", lambda f: None, {"cfg": {}}, "note", "elastic IPs are disabled", "network.public_range"),
    ("public-range-free", file("/proc/net/route", ROUTE_HEADER + route_line("eth0", "0.0.0.0", "192.168.1.1", "0.0.0.0", "0003") + route_line("wg0", "192.168.1.208", "0.0.0.0", "255.255.255.248")),
     {}, "fail", "includes 192.168.1.208, the route to 192.168.1.208/29 via wg0 (and 2 more)", "exclude 192.168.1.208"),
]

FIXABLE = {"kvm-modules", "tun-device", "vhost-net", "virtlogd", "ip-forwarding", "hostname-resolves"}


@pytest.mark.parametrize("role", list(Role))
def test_a_healthy_host_passes_every_check(healthy, check_on, role):
    findings = {c.id: check_on(c.id, healthy, role=role) for c in REGISTRY if role in c.roles}
    not_ok = {i: (f.status.value, f.detail) for i, f in findings.items() if f.status is not Status.ok}
    assert not_ok == {}


def test_every_check_has_a_failing_case():
    assert {c.id for c in REGISTRY} - {case[0] for case in CASES} == set()


@pytest.mark.parametrize(
    "check_id, mutate, kwargs, status, detail, remedy", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_a_host_with_one_thing_wrong(healthy, check_on, check_id, mutate, kwargs, status, detail, remedy):
    mutate(healthy)
    f = check_on(check_id, healthy, **kwargs)
    assert (f.status.value, f.id) == (status, check_id), f.detail
    assert detail in f.detail
    assert remedy in f.remedy
    if status in ("warn", "fail") and check_id in FIXABLE:
        assert f.fixable


OK_CASES = [
    ("firewall", cmd("nft -j list ruleset", json.dumps(NFT_OPEN)), {}, "no input chain drops"),
    ("firewall", both(cmd("ps -e -o comm=", "firewalld\n"), cmd("firewall-cmd --list-ports", "8773/tcp 8775/tcp\n")), {}, "firewalld opens"),
    ("single-address", addrs(("192.168.1.10", 24), ("192.168.1.11", 24)), {"cfg": {"api": {"public_host": "192.168.1.11"}}}, "api.public_host = 192.168.1.11"),
    ("single-address", addrs(("192.168.1.10", 24), ("192.168.1.201", 24)), {}, "one address, 192.168.1.10/24"),
    ("proxy-variables", env(https_proxy="http://proxy:3128", no_proxy="localhost,127.0.0.0/8,192.168.1.0/24,.silvereye.internal"), {}, "no_proxy covers"),
    ("api-ports-free", file("/proc/net/tcp", TCP_HEADER + sock_line("127.0.0.1", 8773, "0A")), {"cfg": {"api": {"listen": "192.168.1.10"}}}, "free on 192.168.1.10"),
    ("dhcp-server", both(file("/proc/net/udp", TCP_HEADER + sock_line("0.0.0.0", 67, "07")), cmd("ss -Hlunp 'sport = :67'", 'UNCONN 0 0 0.0.0.0%virbr0:67 0.0.0.0:* users:(("dnsmasq",pid=16786,fd=3))\n')),
     {}, "pinned to their own interfaces: dnsmasq (pid 16786) on virbr0"),
    ("kvm-device", lambda f: None, {}, "/dev/kvm is present and read-write (crw-rw----"),
    ("kvm-usable", lambda f: None, {}, "booted under KVM in 0.7 s (cached verdict)"),
    ("hostname-resolves", lambda f: None, {}, "'node1' resolves to 192.168.1.10 (eth0)"),
    ("previous-install", lambda f: None, {}, "no earlier install"),
]


@pytest.mark.parametrize("check_id, mutate, kwargs, detail", OK_CASES, ids=[c[0] for c in OK_CASES])
def test_what_looks_odd_but_is_fine(healthy, check_on, check_id, mutate, kwargs, detail):
    mutate(healthy)
    f = check_on(check_id, healthy, **kwargs)
    assert f.status is Status.ok, f.detail
    assert detail in f.detail
