"""A healthy host, as facts, and a way to run one check on any variation of it.

Every check test starts from :func:`healthy_facts` (a Debian 12 box with VT-x,
16 GiB, a static address on eth0, libvirt running, KVM known to work) and
breaks one thing. The KVM verdict comes from the probe's own cache file on
the fake host, so the real probe code runs and nothing boots.
"""

from __future__ import annotations

import copy
import functools
import json

import pytest

from silvereye import config
from silvereye.preflight import checks as _checks  # noqa: F401  (registers every check)
from silvereye.preflight.dict_host import DictHost
from silvereye.preflight.kvm_probe import probe_kvm
from silvereye.preflight.model import REGISTRY, Context, Finding
from silvereye.preflight.roles import Role

QEMU_VERSION = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
KERNEL_RELEASE = "6.1.0-56-amd64"
PROBE_PACKAGE = "linux-image-6.1.0-56-cloud-amd64"
PROBE_KEY = f"{KERNEL_RELEASE}|{QEMU_VERSION}|{PROBE_PACKAGE}|kvm"
URI = "qemu:///system"

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def tcp_line(ip_hex: str, port: int, state: str = "0A") -> str:
    return f"   0: {ip_hex}:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 12345 1\n"


def addr_json(*addrs: tuple[str, int], dev: str = "eth0", dynamic: bool = False) -> str:
    info = [{"family": "inet", "local": a, "prefixlen": p, "scope": "global", **({"dynamic": True} if dynamic else {})} for a, p in addrs]
    return json.dumps([{"ifindex": 2, "ifname": dev, "addr_info": info}])


def default_net_xml(address: str = "192.168.122.1", bridge: str = "virbr0") -> str:
    return f"<network><name>default</name><forward mode='nat'/><bridge name='{bridge}'/><ip address='{address}' netmask='255.255.255.0'/></network>"


def healthy_facts() -> dict:
    programs = ["qemu-system-x86_64", "qemu-img", "virsh", "ip", "dnsmasq", "haproxy"]
    sbin = ["libvirtd", "nft", "virtlogd"]
    return {
        "files": {
            "/etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
            "/proc/cpuinfo": "".join(f"processor\t: {i}\nflags\t\t: fpu vme sse2 vmx lm\n\n" for i in range(4)),
            "/proc/meminfo": "MemTotal:       16384000 kB\nMemFree:        8000000 kB\n",
            "/proc/swaps": "Filename\tType\tSize\tUsed\tPriority\n/swapfile file 4194300 0 -2\n",
            "/proc/sys/kernel/osrelease": KERNEL_RELEASE + "\n",
            "/proc/sys/kernel/hostname": "node1\n",
            "/proc/net/route": ROUTE_HEADER
            + "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
            + "eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
            "/proc/net/tcp": TCP_HEADER + tcp_line("00000000", 22),
            "/proc/net/tcp6": TCP_HEADER,
            "/proc/net/udp": TCP_HEADER,
            "/proc/net/udp6": TCP_HEADER,
            "/proc/sys/net/ipv4/ip_forward": "1\n",
            "/etc/sysctl.d/60-silvereye.conf": "net.ipv4.ip_forward = 1\n",
            "/sys/class/net/eth0/flags": "0x1003\n",
            "/sys/class/net/eth0/carrier": "1\n",
            "/sys/class/net/lo/flags": "0x9\n",
            "/sys/module/kvm/initstate": "live\n",
            "/sys/module/kvm_intel/initstate": "live\n",
            "/sys/module/bridge/initstate": "live\n",
            "/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
            "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nlibvirt-qemu:x:64055:107::/var/lib/libvirt:/usr/sbin/nologin\n",
            "/etc/group": "root:x:0:\nkvm:x:107:libvirt-qemu\n",
            "/var/cache/silvereye/kvm-probe.json": json.dumps({PROBE_KEY: {"usable": True, "detail": "a probe kernel booted under KVM in 0.7 s"}}),
        },
        "stats": {
            "/dev/kvm": {"kind": "chr", "mode": "0660", "gid": 107},
            "/dev/net/tun": {"kind": "chr", "mode": "0666"},
            "/dev/vhost-net": {"kind": "chr", "mode": "0600"},
            "/run/libvirt/virtlogd-sock": {"kind": "sock", "mode": "0600"},
            "/": {"kind": "dir", "mode": "0755"},
            "/var": {"kind": "dir", "mode": "0755"},
            "/var/lib": {"kind": "dir", "mode": "0755"},
            **{f"/usr/bin/{p}": {"mode": "0755"} for p in programs},
            **{f"/usr/sbin/{p}": {"mode": "0755"} for p in sbin},
        },
        "commands": {
            "id -u": "0\n",
            "ps -e -o comm=": "systemd\nchronyd\nlibvirtd\nvirtlogd\nsshd\n",
            "ip -j -4 addr show dev eth0": addr_json(("192.168.1.10", 24)),
            "ip -j -4 addr show": addr_json(("192.168.1.10", 24)),
            "df -P -B1 /var/lib": "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/sda1 1000000000000 1 500000000000 1% /\n",
            "getent ahostsv4 node1": "192.168.1.10    STREAM node1\n192.168.1.10    DGRAM\n",
            f"virsh -c {URI} version": "Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nRunning hypervisor: QEMU 7.2.0\n",
            f"virsh -c {URI} uri": URI + "\n",
            f"virsh -c {URI} net-uuid silvereye": {"rc": 1, "stderr": "error: failed to get network 'silvereye'"},
            f"virsh -c {URI} net-dumpxml default": default_net_xml(),
            f"virsh -c {URI} net-info default": "Name:           default\nActive:         yes\nAutostart:      yes\n",
            "nft -j list ruleset": json.dumps({"nftables": [{"metainfo": {}}]}),
            "/usr/bin/qemu-system-x86_64 --version": QEMU_VERSION + "\nCopyright (c) 2003-2022\n",
        },
        "env": {"PATH": "/usr/bin:/bin", "HOME": "/root"},
    }


HEALTHY_CONFIG = {"network": {"public_range": "192.168.1.200-192.168.1.210"}}


def make_ctx(facts: dict, role: Role = Role.ciab, cfg: dict | None = None, interface: str | None = None) -> Context:
    host = DictHost(copy.deepcopy(facts))
    prober = functools.partial(probe_kvm, kernel_package=PROBE_PACKAGE, kernel_path=_no_kernel)
    return Context(host, config.from_dict(cfg if cfg is not None else HEALTHY_CONFIG), role, interface, prober)


def _no_kernel(package: str) -> str:
    raise AssertionError("a unit test asked for the probe kernel: it must not boot anything")


def run_check(check_id: str, facts: dict, **kw) -> Finding:
    """Run one check by id on a host made of ``facts``."""
    check = next(c for c in REGISTRY if c.id == check_id)
    return check(make_ctx(facts, **kw))


@pytest.fixture
def healthy() -> dict:
    """A fresh copy of the healthy host's facts, to break one thing in."""
    return healthy_facts()


@pytest.fixture
def check_on():
    """check_on(id, facts, role=..., cfg=..., interface=...) -> Finding."""
    return run_check


@pytest.fixture
def ctx_for():
    """ctx_for(facts, role=..., cfg=..., interface=...) -> Context over a DictHost."""
    return make_ctx
