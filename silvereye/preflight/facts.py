"""Facts about a host, parsed once from what its :class:`Host` reads.

Several checks need the same thing (the primary interface, the CPU flags, the
listening sockets); this layer reads each once per run and parses it, so
checks stay short and a host over SSH is not asked the same question twice.
Everything here only reads.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import posixpath
import re
from dataclasses import dataclass, field

from silvereye.laydown import packages
from silvereye.preflight.host import Host, PathStat, SEARCH_PATH


@dataclass(frozen=True)
class Listener:
    proto: str  # tcp or udp
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    inode: int = 0

    @property
    def wildcard(self) -> bool:
        return self.address.is_unspecified

    def __str__(self) -> str:
        addr = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{addr}:{self.port}/{self.proto}"


@dataclass(frozen=True)
class Route:
    dev: str
    network: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address | None


@dataclass
class Address:
    interface: ipaddress.IPv4Interface
    dynamic: bool = False
    dev: str = ""

    @property
    def ip(self) -> ipaddress.IPv4Address:
        return self.interface.ip


@dataclass
class Account:
    name: str
    uid: int
    gid: int
    groups: set[int] = field(default_factory=set)


def parse_key_values(text: str | None, sep: str = "=") -> dict[str, str]:
    """``KEY=value`` (os-release, /etc/environment) or ``Key: value`` (meminfo) lines."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or sep not in line:
            continue
        k, v = line.split(sep, 1)
        k = k.strip()
        if k.startswith("export "):
            k = k[len("export "):].strip()
        out[k] = v.strip().strip('"').strip("'")
    return out


def _hex_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The little-endian hex addresses of /proc/net/{tcp,udp,route}[6]."""
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    # IPv6: four 32-bit words, each in host (little-endian) order.
    return ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))


def parse_proc_sockets(text: str | None, proto: str) -> list[Listener]:
    """Listening TCP sockets (state 0A) or bound UDP sockets (state 07) from /proc/net/*."""
    out: list[Listener] = []
    want = "0A" if proto == "tcp" else "07"
    for line in (text or "").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10 or parts[3] != want:
            continue
        addr, port = parts[1].split(":")
        out.append(Listener(proto, _hex_ip(addr), int(port, 16), int(parts[9]) if parts[9].isdigit() else 0))
    return out


def parse_proc_route(text: str | None) -> list[Route]:
    routes: list[Route] = []
    for line in (text or "").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8 or not int(parts[3], 16) & 0x1:  # RTF_UP
            continue
        dest, gw, mask = _hex_ip(parts[1]), _hex_ip(parts[2]), _hex_ip(parts[7])
        net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        routes.append(Route(parts[0], net, gw if int(gw) else None))
    return routes


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


class HostFacts:
    """Parsed, memoised facts about one host."""

    def __init__(self, host: Host, interface: str | None = None):
        self.host = host
        self.interface_override = interface
        self._addresses: dict[str, list[Address] | None] = {}

    # -- identity and OS ----------------------------------------------------

    @functools.cached_property
    def uid(self) -> int | None:
        r = self.host.run(["id", "-u"])
        return int(r.stdout.strip()) if r.ok and r.stdout.strip().isdigit() else None

    @functools.cached_property
    def os_release(self) -> dict[str, str]:
        return parse_key_values(self.host.read_file("/etc/os-release") or self.host.read_file("/usr/lib/os-release"))

    @functools.cached_property
    def family(self) -> str | None:
        return packages.family_of(self.os_release)

    @functools.cached_property
    def systemd(self) -> bool:
        """Whether systemd is the running init (its own test: /run/systemd/system exists)."""
        st = self.host.stat("/run/systemd/system")
        return bool(st and st.is_dir)

    @functools.cached_property
    def kernel_release(self) -> str:
        return (self.host.read_file("/proc/sys/kernel/osrelease") or "").strip()

    @functools.cached_property
    def hostname(self) -> str:
        return (self.host.read_file("/proc/sys/kernel/hostname") or "").strip()

    # -- CPU and memory -----------------------------------------------------

    @functools.cached_property
    def cpuinfo(self) -> str:
        return self.host.read_file("/proc/cpuinfo") or ""

    @functools.cached_property
    def cpu_flags(self) -> set[str]:
        m = re.search(r"^flags\s*:(.*)$", self.cpuinfo, re.M)
        return set(m.group(1).split()) if m else set()

    @functools.cached_property
    def cpu_count(self) -> int:
        return len(re.findall(r"^processor\s*:", self.cpuinfo, re.M))

    @functools.cached_property
    def virt_vendor(self) -> str | None:
        """'intel' (vmx), 'amd' (svm) or None."""
        if "vmx" in self.cpu_flags:
            return "intel"
        if "svm" in self.cpu_flags:
            return "amd"
        return None

    @functools.cached_property
    def meminfo_kib(self) -> dict[str, int]:
        out = {}
        for k, v in parse_key_values(self.host.read_file("/proc/meminfo"), ":").items():
            num = v.split()[0] if v.split() else ""
            if num.isdigit():
                out[k] = int(num)
        return out

    # -- files and programs -------------------------------------------------

    def exists(self, path: str) -> bool:
        return self.host.stat(path) is not None

    def which(self, *names: str) -> str | None:
        """The first of ``names`` installed (absolute names are taken as they are)."""
        for name in names:
            candidates = [name] if name.startswith("/") else [f"{d}/{name}" for d in SEARCH_PATH.split(":")]
            for path in candidates:
                st = self.host.stat(path)
                if st and st.is_file and st.mode & 0o111:
                    return path
        return None

    def first_line(self, path: str) -> str:
        return (self.host.read_file(path) or "").strip().split("\n")[0]

    @functools.cached_property
    def processes(self) -> set[str]:
        """Names of running programs (ps's comm column; /proc when ps is missing)."""
        r = self.host.run(["ps", "-e", "-o", "comm="])
        if r.ok:
            return {ln.strip() for ln in r.stdout.splitlines() if ln.strip()}
        names = set()
        for pid in self.host.listdir("/proc") or []:
            if pid.isdigit():
                comm = self.host.read_file(f"/proc/{pid}/comm")
                if comm:
                    names.add(comm.strip())
        return names

    def account(self, *names: str) -> Account | None:
        """The first of these users that exists, with its groups (from /etc/passwd and /etc/group)."""
        passwd = self.host.read_file("/etc/passwd") or ""
        users = {p[0]: p for p in (ln.split(":") for ln in passwd.splitlines()) if len(p) >= 4}
        for name in names:
            if name in users and users[name][2].isdigit():
                acct = Account(name, int(users[name][2]), int(users[name][3]))
                acct.groups.add(acct.gid)
                for line in (self.host.read_file("/etc/group") or "").splitlines():
                    parts = line.split(":")
                    if len(parts) >= 4 and name in parts[3].split(",") and parts[2].isdigit():
                        acct.groups.add(int(parts[2]))
                return acct
        return None

    # -- network ------------------------------------------------------------

    @functools.cached_property
    def routes(self) -> list[Route]:
        return parse_proc_route(self.host.read_file("/proc/net/route"))

    @functools.cached_property
    def default_route(self) -> Route | None:
        defaults = [r for r in self.routes if r.network.prefixlen == 0]
        return defaults[0] if defaults else None

    @functools.cached_property
    def interfaces(self) -> list[str]:
        return self.host.listdir("/sys/class/net") or []

    @functools.cached_property
    def primary_interface(self) -> str | None:
        """--interface, else the default route's device."""
        if self.interface_override:
            return self.interface_override
        return self.default_route.dev if self.default_route else None

    def addresses(self, dev: str | None = None) -> list[Address] | None:
        """IPv4 addresses of an interface, or of every interface (None when ``ip`` cannot tell)."""
        key = dev or ""
        if key not in self._addresses:
            self._addresses[key] = self._read_addresses(dev)
        return self._addresses[key]

    def _read_addresses(self, dev: str | None) -> list[Address] | None:
        r = self.host.run(["ip", "-j", "-4", "addr", "show"] + (["dev", dev] if dev else []))
        if not r.ok:
            return None
        try:
            data = json.loads(r.stdout or "[]")
        except ValueError:
            return None
        out = []
        for link in data:
            for a in link.get("addr_info", []):
                if a.get("family") == "inet" and "local" in a:
                    iface = ipaddress.IPv4Interface(f"{a['local']}/{a.get('prefixlen', 32)}")
                    out.append(Address(iface, bool(a.get("dynamic")), link.get("ifname", dev or "")))
        return out

    @functools.cached_property
    def listeners(self) -> list[Listener]:
        out: list[Listener] = []
        for proto in ("tcp", "udp"):
            for suffix in ("", "6"):
                out += parse_proc_sockets(self.host.read_file(f"/proc/net/{proto}{suffix}"), proto)
        return out

    def listener_owner(self, listener: Listener) -> str:
        """Which program holds a socket, as ss shows it ('' when ss cannot tell)."""
        flag = "-Hltnp" if listener.proto == "tcp" else "-Hlunp"
        r = self.host.run(["ss", flag, f"sport = :{listener.port}"])
        m = re.search(r'users:\(\("([^"]+)",pid=(\d+)', r.stdout) if r.ok else None
        return f"{m.group(1)} (pid {m.group(2)})" if m else ""

    # -- paths --------------------------------------------------------------

    def nearest_existing(self, path: str) -> tuple[str, PathStat | None]:
        """The path itself, or its closest existing ancestor (what a later mkdir -p would start from)."""
        p = posixpath.normpath(path)
        while True:
            st = self.host.stat(p)
            if st is not None or p == "/":
                return p, st
            p = posixpath.dirname(p)

    def disk_free(self, path: str) -> tuple[int, str] | None:
        """(bytes available, mount point) for the filesystem that holds or will hold ``path``."""
        existing, _ = self.nearest_existing(path)
        r = self.host.run(["df", "-P", "-B1", existing])
        lines = r.stdout.strip().splitlines() if r.ok else []
        if len(lines) < 2:
            return None
        parts = lines[-1].split()
        if len(parts) < 6 or not parts[3].isdigit():
            return None
        return int(parts[3]), parts[5]
