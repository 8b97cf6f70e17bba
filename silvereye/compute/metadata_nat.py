"""The redirect of 169.254.169.254:80 to the metadata listener, in nftables.

Guests ask the link-local metadata address; packets arriving on the
instance bridge for it are DNAT'd to the listener on the bridge address
(``network.metadata_port``). The rule lives in an nftables table silvereye
owns alone, so applying it replaces the whole table in one atomic
transaction (``add table; delete table; table { ... }``) and removing it
deletes the table: both are idempotent and never touch anyone else's rules
(libvirt's, Docker's, the administrator's).
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from dataclasses import dataclass

from silvereye.compute.errors import NetworkError

METADATA_ADDRESS = "169.254.169.254"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


def table_name_for(network_name: str) -> str:
    """An nftables table name made from the network's name (``silvereye`` for the default)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", network_name)
    if not name or not name[0].isalpha():
        name = "n_" + name
    return name[:32]


@dataclass(frozen=True)
class MetadataRedirect:
    table: str
    bridge: str
    target_ip: str
    target_port: int

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.table):
            raise NetworkError(f"{self.table!r} cannot name an nftables table")
        if not _IFNAME.fullmatch(self.bridge):
            raise NetworkError(f"{self.bridge!r} is not an interface name")
        ipaddress.IPv4Address(self.target_ip)
        if not 1 <= int(self.target_port) <= 65535:
            raise NetworkError(f"{self.target_port!r} is not a port")

    def ruleset(self) -> str:
        return (
            f"add table ip {self.table}\n"
            f"delete table ip {self.table}\n"
            f"table ip {self.table} {{\n"
            f"  chain prerouting {{\n"
            f"    type nat hook prerouting priority dstnat; policy accept;\n"
            f'    iifname "{self.bridge}" ip daddr {METADATA_ADDRESS} tcp dport 80 '
            f"dnat to {self.target_ip}:{int(self.target_port)}\n"
            f"  }}\n"
            f"}}\n"
        )

    def apply(self) -> None:
        """Install (or replace) the redirect."""
        _nft(self.ruleset(), f"install the metadata redirect in nftables table {self.table}")

    def remove(self) -> None:
        """Delete the table if it exists."""
        _nft(f"add table ip {self.table}\ndelete table ip {self.table}\n", f"remove nftables table {self.table}")

    def installed(self) -> bool:
        try:
            r = subprocess.run(["nft", "list", "table", "ip", self.table], capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            return False
        return r.returncode == 0 and METADATA_ADDRESS in r.stdout


def _nft(script: str, what: str) -> None:
    run_nft(script, what)


def run_nft(script: str, what: str, prefix: tuple[str, ...] = ()) -> None:
    """Load ``script`` with ``nft -f -`` as one transaction (all of it or none of it);
    ``prefix`` runs nft elsewhere (``ip netns exec <ns>`` in tests)."""
    try:
        r = subprocess.run([*prefix, "nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise NetworkError(f"cannot {what}: the nft tool is not installed; install nftables") from None
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise NetworkError(f"cannot {what}: {tail}")
