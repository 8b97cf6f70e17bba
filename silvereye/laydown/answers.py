"""The answers a host installation needs, as one typed and validated value.

`silvereye install --answers FILE` and `silvereye kickstart render --answers
FILE` read the same YAML file, so a DVD install and an install on a running
host are configured the same way (FastStart asked these questions at the
console; the kickstart carries the answers to the first boot)::

    role: ciab                        # ciab | frontend | node
    hostname: cloud1.example.com
    timezone: Europe/Berlin
    network:
      mode: static                    # or dhcp (then give subnet)
      interface: eth0                 # empty: the first interface with a link
      address: 192.168.1.10/24
      gateway: 192.168.1.1
      nameservers: [192.168.1.1]
    public_ips: 192.168.1.200-192.168.1.220   # elastic IPs; empty disables them
    ntp_server: pool.ntp.org
    dns_domain: cloud.example.com
    root_password_hash: "$6$..."      # a crypt(3) hash, never a plain password
    ssh_keys: ["ssh-ed25519 AAAA... me@laptop"]
    install_disk: sda                 # kickstart only; empty: every disk

Every problem is reported in one line naming the field, the value and what
was expected. Keys left out take defaults: :data:`BUILTIN_DEFAULTS` (right for
a machine we know nothing about, such as one booting the DVD) or, for an
install on this host, the values :func:`detect_defaults` reads from it.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import json
import os
import re
import socket
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from silvereye.config import parse_ip_range, read_yaml
from silvereye.errors import SilvereyeError

Role = Literal["ciab", "frontend", "node"]
ROLES: tuple[str, ...] = get_args(Role)
# The flag `silvereye install` takes for each role.
INSTALL_FLAGS: dict[str, str] = {"ciab": "--cloud-in-a-box", "frontend": "--frontend", "node": "--node"}

BUILTIN_DEFAULTS: dict[str, Any] = {
    "role": "ciab",
    "hostname": "silvereye.localdomain",
    "timezone": "UTC",
    "network": {"mode": "dhcp", "interface": ""},
    "public_ips": "",
    "ntp_server": "pool.ntp.org",
    "dns_domain": "silvereye.internal",
    "root_password_hash": "",
    "ssh_keys": [],
    "install_disk": "",
}

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_TZ = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
# crypt(3) hashes: $id$[params$]salt$hash, all in the crypt alphabet (plus '=' and ',' in params).
_CRYPT = re.compile(r"\$[0-9a-z]{1,3}\$[./0-9A-Za-z$=,]{8,}")
_SSH_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
_DISK = re.compile(r"(/dev/)?[A-Za-z0-9][A-Za-z0-9._:+-]*(/[A-Za-z0-9._:+-]+)*")


class AnswersError(SilvereyeError):
    """One line: which answer is wrong, the value, and what was expected."""


@dataclass(frozen=True)
class NetworkAnswers:
    mode: Literal["static", "dhcp"]
    interface: str = ""
    address: ipaddress.IPv4Interface | None = None
    gateway: ipaddress.IPv4Address | None = None
    nameservers: tuple[ipaddress.IPv4Address, ...] = ()
    # The host's subnet: from the address when static, given when DHCP.
    subnet: ipaddress.IPv4Network | None = None


@dataclass(frozen=True)
class Answers:
    role: str
    hostname: str
    timezone: str
    network: NetworkAnswers
    public_ips: str = ""
    ntp_server: str = "pool.ntp.org"
    dns_domain: str = "silvereye.internal"
    root_password_hash: str = ""
    ssh_keys: tuple[str, ...] = ()
    install_disk: str = ""
    source: str = field(default="<answers>", compare=False)

    @property
    def install_flag(self) -> str:
        return INSTALL_FLAGS[self.role]

    @property
    def public_addresses(self) -> list[ipaddress.IPv4Address]:
        return parse_ip_range(self.public_ips) if self.public_ips else []

    def with_role(self, role: str) -> "Answers":
        if role not in ROLES:
            raise AnswersError(f"answers {self.source}: role: {role!r} is not valid: expected one of {', '.join(ROLES)}")
        return replace(self, role=role)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :func:`parse` turns back into an equal value (what the kickstart carries)."""
        net: dict[str, Any] = {"mode": self.network.mode, "interface": self.network.interface}
        if self.network.address is not None:
            net["address"] = str(self.network.address)
        if self.network.gateway is not None:
            net["gateway"] = str(self.network.gateway)
        if self.network.nameservers:
            net["nameservers"] = [str(n) for n in self.network.nameservers]
        if self.network.mode == "dhcp" and self.network.subnet is not None:
            net["subnet"] = str(self.network.subnet)
        return {
            "role": self.role,
            "hostname": self.hostname,
            "timezone": self.timezone,
            "network": net,
            "public_ips": self.public_ips,
            "ntp_server": self.ntp_server,
            "dns_domain": self.dns_domain,
            "root_password_hash": self.root_password_hash,
            "ssh_keys": list(self.ssh_keys),
            "install_disk": self.install_disk,
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def config_settings(self) -> dict[str, Any]:
        """The part of silvereye.yaml these answers decide (keys as in silvereye.config)."""
        return {
            "dns_domain": self.dns_domain,
            "network": {
                "interface": self.network.interface,
                "public_range": self.public_ips,
                "ntp_server": self.ntp_server,
            },
        }


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


class _Checker:
    """Turns raw YAML data into typed values, failing with one line per problem."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, value: Any, expected: str) -> AnswersError:
        return AnswersError(f"answers {self.source}: {key}: {value!r} is not valid: {expected}")

    def keys(self, data: dict[str, Any], allowed: list[str], prefix: str = "") -> None:
        for k in data:
            if k not in allowed:
                close = difflib.get_close_matches(str(k), allowed, n=1)
                hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
                raise AnswersError(f"answers {self.source}: unknown key '{prefix}{k}'{hint}")

    def text(self, key: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(key, value, "expected a string")
        return str(value).strip()

    def hostname(self, key: str, value: Any, *, what: str = "a host name") -> str:
        name = self.text(key, value)
        labels = name.split(".")
        if not name or len(name) > 253 or not all(_LABEL.fullmatch(lb) for lb in labels):
            raise self.fail(key, value, f"expected {what}: dot-separated labels of 1-63 letters, digits or '-', "
                                        "not starting or ending with '-' (253 characters at most)")
        if labels[-1].isdigit():
            raise self.fail(key, value, f"expected {what}, not something that reads as an address")
        return name

    def ipv4(self, key: str, value: Any) -> ipaddress.IPv4Address:
        try:
            return ipaddress.IPv4Address(self.text(key, value))
        except ValueError:
            raise self.fail(key, value, "expected an IPv4 address such as 192.168.1.1") from None

    def timezone(self, key: str, value: Any) -> str:
        tz = self.text(key, value)
        if not _TZ.fullmatch(tz) or ".." in tz:
            raise self.fail(key, value, "expected a time zone name such as UTC or Europe/Berlin")
        known = _known_timezones()
        if known and tz not in known:
            close = difflib.get_close_matches(tz, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(key, value, f"expected a time zone name from the tz database{hint}")
        return tz


def _known_timezones() -> set[str]:
    try:
        import zoneinfo

        return set(zoneinfo.available_timezones())
    except Exception:  # no tz database on this system: the pattern check stands alone
        return set()


def _network(c: _Checker, raw: Any) -> NetworkAnswers:
    if not isinstance(raw, dict):
        raise c.fail("network", raw, "expected a mapping with mode, interface, address, gateway, ...")
    c.keys(raw, ["mode", "interface", "address", "gateway", "nameservers", "subnet"], "network.")
    mode = c.text("network.mode", raw.get("mode") or ("static" if raw.get("address") else "dhcp"))
    if mode not in ("static", "dhcp"):
        raise c.fail("network.mode", raw.get("mode"), "expected 'static' or 'dhcp'")
    iface = c.text("network.interface", raw.get("interface"))
    if iface and (not _IFNAME.fullmatch(iface) or iface in (".", "..")):
        raise c.fail("network.interface", iface, "expected an interface name of 1 to 15 letters, digits, '-', '_' or '.'")
    nameservers = raw.get("nameservers") or []
    if isinstance(nameservers, str):
        nameservers = [nameservers]
    if not isinstance(nameservers, list):
        raise c.fail("network.nameservers", nameservers, "expected a list of IPv4 addresses")
    dns = tuple(c.ipv4(f"network.nameservers[{i}]", n) for i, n in enumerate(nameservers))

    if mode == "dhcp":
        for k in ("address", "gateway"):
            if raw.get(k):
                raise c.fail(f"network.{k}", raw[k], "expected no value with mode dhcp (set mode: static to use it)")
        subnet = None
        if raw.get("subnet"):
            try:
                subnet = ipaddress.IPv4Network(c.text("network.subnet", raw["subnet"]), strict=True)
            except ValueError:
                raise c.fail("network.subnet", raw["subnet"], "expected an IPv4 network such as 192.168.1.0/24") from None
        return NetworkAnswers("dhcp", iface, None, None, dns, subnet)

    text = c.text("network.address", raw.get("address"))
    if "/" not in text:
        raise c.fail("network.address", raw.get("address"),
                     "expected an address with its prefix length, such as 192.168.1.10/24")
    try:
        addr = ipaddress.IPv4Interface(text)
    except ValueError:
        raise c.fail("network.address", raw.get("address"), "expected an IPv4 address with its prefix, such as 192.168.1.10/24") from None
    net = addr.network
    if net.prefixlen > 30:
        raise c.fail("network.address", text, "expected a subnet of at least 4 addresses (prefix /30 or shorter)")
    if addr.ip in (net.network_address, net.broadcast_address):
        raise c.fail("network.address", text, f"expected a host address, not the network or broadcast address of {net}")
    if raw.get("subnet") and str(raw["subnet"]).strip() != str(net):
        raise c.fail("network.subnet", raw["subnet"], f"expected it left out or equal to {net}, the address's subnet")
    gateway = None
    if raw.get("gateway"):
        gateway = c.ipv4("network.gateway", raw["gateway"])
        if gateway not in net or gateway in (net.network_address, net.broadcast_address):
            raise c.fail("network.gateway", str(gateway), f"expected a host address inside {net}")
        if gateway == addr.ip:
            raise c.fail("network.gateway", str(gateway), "expected an address other than the host's own")
    return NetworkAnswers("static", iface, addr, gateway, dns or ((gateway,) if gateway else ()), net)


def _public_ips(c: _Checker, raw: Any, net: NetworkAnswers) -> str:
    text = c.text("public_ips", raw)
    if not text:
        return ""
    try:
        addrs = parse_ip_range(text)
    except ValueError:
        raise c.fail("public_ips", raw, "expected a range such as 192.168.1.200-192.168.1.220 or a CIDR such as 192.168.1.224/28") from None
    if net.subnet is None:
        raise c.fail("public_ips", text, "expected network.subnet to be given with mode dhcp, so the range can be checked against it")
    subnet = net.subnet
    outside = [a for a in addrs if a not in subnet or a in (subnet.network_address, subnet.broadcast_address)]
    if outside:
        raise c.fail("public_ips", text, f"expected every address inside the host's subnet {subnet} ({outside[0]} is not a usable host address there)")
    taken = {"host address": net.address.ip if net.address else None, "gateway": net.gateway}
    for what, ip in taken.items():
        if ip is not None and ip in addrs:
            raise c.fail("public_ips", text, f"expected a range that leaves out the {what} {ip}")
    for ns in net.nameservers:
        if ns in addrs:
            raise c.fail("public_ips", text, f"expected a range that leaves out the name server {ns}")
    return text


def _ssh_key(c: _Checker, key: str, raw: Any) -> str:
    text = c.text(key, raw)
    parts = text.split(None, 2)
    if len(parts) < 2 or parts[0] not in _SSH_TYPES:
        raise c.fail(key, _short(text), "expected an OpenSSH public key line such as 'ssh-ed25519 AAAA... me@host'")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        blob = b""
    if len(blob) < 16:
        raise c.fail(key, _short(text), "expected base64 key data after the key type")
    inner = blob[4:4 + int.from_bytes(blob[:4], "big")]
    if inner.decode("ascii", "replace") != parts[0]:
        raise c.fail(key, _short(text), f"expected key data of type {parts[0]} (the data names another type)")
    comment = parts[2] if len(parts) > 2 else ""
    if any(ch in comment for ch in "\"\\'`$") or not comment.isprintable():
        raise c.fail(key, _short(text), "expected a comment without quotes, backslashes, '$' or control characters")
    return " ".join(parts)


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def parse(data: dict[str, Any] | None, source: str = "<answers>", defaults: dict[str, Any] | None = None) -> Answers:
    """Validate raw answers (keys missing from ``data`` come from ``defaults``)."""
    c = _Checker(source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AnswersError(f"answers {source}: expected a mapping of answers at the top level, found {type(data).__name__}")
    c.keys(data, list(BUILTIN_DEFAULTS))
    merged = dict(BUILTIN_DEFAULTS if defaults is None else {**BUILTIN_DEFAULTS, **defaults})
    merged.update(data)

    role = c.text("role", merged["role"])
    if role not in ROLES:
        raise c.fail("role", merged["role"], "expected one of " + ", ".join(ROLES))
    hostname = c.hostname("hostname", merged["hostname"])
    timezone = c.timezone("timezone", merged["timezone"])
    network = _network(c, merged["network"])
    public_ips = _public_ips(c, merged["public_ips"], network)
    ntp_raw = c.text("ntp_server", merged["ntp_server"])
    try:
        ntp = str(ipaddress.IPv4Address(ntp_raw))
    except ValueError:
        ntp = c.hostname("ntp_server", ntp_raw, what="an NTP server host name or address")
    dns_domain = c.hostname("dns_domain", merged["dns_domain"], what="a DNS domain")

    pw = c.text("root_password_hash", merged["root_password_hash"])
    if pw and not _CRYPT.fullmatch(pw):
        raise c.fail("root_password_hash", "<hidden>",
                     "expected a crypt(3) hash such as the output of 'openssl passwd -6' (never a plain password)")
    keys_raw = merged["ssh_keys"] or []
    if isinstance(keys_raw, str):
        keys_raw = [keys_raw]
    if not isinstance(keys_raw, list):
        raise c.fail("ssh_keys", keys_raw, "expected a list of OpenSSH public key lines")
    keys = tuple(_ssh_key(c, f"ssh_keys[{i}]", k) for i, k in enumerate(keys_raw))

    disk = c.text("install_disk", merged["install_disk"])
    if disk and (not _DISK.fullmatch(disk) or ".." in disk.split("/")):
        raise c.fail("install_disk", disk, "expected a disk name such as sda, vda, nvme0n1 or /dev/disk/by-id/...")
    return Answers(role, hostname, timezone, network, public_ips, ntp, dns_domain, pw, keys, disk, source)


def load(path: str | os.PathLike[str], defaults: dict[str, Any] | None = None) -> Answers:
    """Read and validate an answers file; one-line errors for a missing, unreadable or invalid file."""
    p = Path(path)
    data = read_yaml(p, "answers", AnswersError, "write one (see tests/fixtures/answers/) or leave --answers out")
    return parse(data, source=str(p), defaults=defaults)


# ---------------------------------------------------------------------------
# Defaults read from this host (for `silvereye install` on a running system)
# ---------------------------------------------------------------------------


def _ip_json(args: list[str]) -> list[dict[str, Any]]:
    try:
        r = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else []
    except (OSError, ValueError, subprocess.SubprocessError):
        return []


def _detect_timezone(root: Path) -> str | None:
    tzfile = root / "etc/timezone"
    if tzfile.exists():
        return tzfile.read_text().strip() or None
    try:
        target = os.readlink(root / "etc/localtime")
    except OSError:
        return None
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None


def _detect_ntp(root: Path) -> str | None:
    for conf in ("etc/chrony/chrony.conf", "etc/chrony.conf", "etc/ntp.conf", "etc/ntpsec/ntp.conf"):
        try:
            lines = (root / conf).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split()
            if len(words) >= 2 and words[0] in ("server", "pool"):
                return words[1]
    return None


def _detect_nameservers(root: Path) -> list[str]:
    try:
        lines = (root / "etc/resolv.conf").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                out.append(str(ipaddress.IPv4Address(words[1])))
            except ValueError:
                continue  # IPv6 name servers are not part of the answers
    return out


def detect_defaults(root: Path = Path("/"), ip_json=_ip_json) -> dict[str, Any]:
    """Answers for this host as it runs now: default-route interface, its address, time zone, NTP, DNS.

    Only what can be read is returned; :func:`parse` fills the rest from
    :data:`BUILTIN_DEFAULTS`. The elastic IP range has no safe default (we
    cannot know which addresses on the LAN are free), so it is left empty.
    """
    out: dict[str, Any] = {}
    fqdn = socket.getfqdn()
    if fqdn and _LABEL.fullmatch(fqdn.split(".")[0] or "-"):
        out["hostname"] = fqdn
        if "." in fqdn and not fqdn.endswith(".localdomain"):
            out["dns_domain"] = fqdn.split(".", 1)[1]
    tz = _detect_timezone(root)
    if tz:
        out["timezone"] = tz
    ntp = _detect_ntp(root)
    if ntp:
        out["ntp_server"] = ntp

    routes = [r for r in ip_json(["-4", "route", "show", "default"]) if r.get("dev")]
    if routes:
        out["network"] = interface_network(routes[0]["dev"], root, ip_json)
    return out


def interface_network(dev: str, root: Path = Path("/"), ip_json=_ip_json) -> dict[str, Any]:
    """The ``network`` answers for interface ``dev`` as it is configured now."""
    gateway = next((r.get("gateway") for r in ip_json(["-4", "route", "show", "default"]) if r.get("dev") == dev), None)
    links = ip_json(["-4", "addr", "show", "dev", dev])
    addrs = [a for link in links for a in link.get("addr_info", []) if a.get("family") == "inet"]
    net: dict[str, Any] = {"interface": dev}
    if addrs:
        a = addrs[0]
        cidr = f"{a['local']}/{a['prefixlen']}"
        if a.get("dynamic"):
            net["mode"] = "dhcp"
            net["subnet"] = str(ipaddress.IPv4Interface(cidr).network)
        else:
            net["mode"] = "static"
            net["address"] = cidr
            if gateway:
                net["gateway"] = gateway
    else:
        net["mode"] = "dhcp"
    ns = _detect_nameservers(root)
    if ns:
        net["nameservers"] = ns
    return net


def interfaces_with_address(ip_json=_ip_json) -> list[str]:
    """Interfaces holding an IPv4 address other than loopback (what the interface question offers)."""
    return [link["ifname"] for link in ip_json(["-4", "addr", "show"])
            if link.get("ifname") and link.get("ifname") != "lo"
            and any(a.get("family") == "inet" for a in link.get("addr_info", []))]
