"""The install steps that set the cloud itself up: network, credentials, default image.

They use the other parts of silvereye the way their owners meant them to be
used: the compute driver defines the instance network and the metadata
redirect; the admin account the service creates on its first start gives
the credentials; the tiny image goes through S3 and EC2 RegisterImage with
boto3, exactly as a user would upload and register an image.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from silvereye.config import Config, NetworkConfig
from silvereye.errors import SilvereyeError
from silvereye.laydown.hostfiles import ensure_dir, place_file, place_ini_section, render
from silvereye.laydown.layout import Layout
from silvereye.laydown.manifest import Manifest
from silvereye.laydown.progress import Step
from silvereye.net import endpoint_url

PROFILE = "silvereye"
IMAGE_NAME = "silvereye-tiny"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
LIBVIRT_NETWORK_RUN = "/run/libvirt/network"
LIBVIRT_QEMU_LOGS = "/var/log/libvirt/qemu"


class MissingPart(SilvereyeError):
    """A part of silvereye this step needs is not in this build."""


def _missing(what: str, module: str, hint: str) -> MissingPart:
    return MissingPart(f"this build of silvereye has no {what} yet ({module}); {hint}")


# ---------------------------------------------------------------------------
# IP forwarding
# ---------------------------------------------------------------------------


def ip_forwarding() -> str:
    try:
        return IP_FORWARD.read_text().strip()
    except OSError:
        return ""


def set_ip_forwarding(value: str) -> None:
    try:
        IP_FORWARD.write_text(value + "\n")
    except OSError as e:
        raise SilvereyeError(f"cannot set net.ipv4.ip_forward to {value} ({e.strerror}); run as root") from None


# ---------------------------------------------------------------------------
# The instance network
# ---------------------------------------------------------------------------


def instance_subnet(existing: dict[str, Any], routes: list[Any], bridge: str) -> str:
    """The instance subnet to write down: the one chosen before, else the default, else (when the default
    collides with a network this host uses, as on a LAN numbered 172.31.x) a free /20 of 10.200.0.0/13."""
    chosen = (existing.get("network") or {}).get("subnet")
    if chosen:
        return str(chosen)
    default = ipaddress.IPv4Network(NetworkConfig().subnet)
    if not any(r.network.prefixlen and r.dev != bridge and r.network.overlaps(default) for r in routes):
        return str(default)
    from silvereye.compute.network import free_subnet

    return free_subnet(prefix=20)


def compute_driver(cfg: Config):  # noqa: ANN201 - a ComputeDriver; imported late (CLI start-up time)
    try:
        from silvereye.compute import ComputeDriver
    except ImportError:
        raise _missing("compute driver", "silvereye/compute", "the instance network cannot be created") from None
    return ComputeDriver(cfg)


def ensure_network(cfg: Config, manifest: Manifest, s: Step) -> None:
    """The libvirt NAT network with DHCP on every node and the metadata redirect (both recorded)."""
    driver = compute_driver(cfg)
    try:
        net = driver.network
        defined = {node.name: net.lookup(node.connection()) is not None for node in driver.nodes}
        redirect = driver.metadata_redirect
        had_redirect = redirect.installed()
        driver.setup()
        for node in driver.nodes:
            manifest.record({"kind": "libvirt-network", "name": f"{net.name}@{node.uri}", "network": net.name,
                             "uri": node.uri, "bridge": net.bridge, "step": "instance network",
                             "existed": defined[node.name]})
            if not defined[node.name]:
                where = "" if node.name == "local" else f" on node {node.name}"
                s.changed(f"defined and started libvirt network {net.name} ({net.subnet} on {net.bridge}){where}")
        manifest.record({"kind": "nft-table", "name": redirect.table, "family": "ip", "step": "instance network"})
        if not had_redirect:
            s.changed(f"redirected 169.254.169.254:80 to the metadata listener (nftables table ip {redirect.table})")
        s.detail(f"{net.name}: {net.subnet} on {net.bridge}, metadata on {redirect.target_ip}:{redirect.target_port}")
    finally:
        driver.close()


def ensure_node_network(cfg: Config, name: str, uri: str, manifest: Manifest, s: Step) -> None:
    """The instance network on one (new) node, through the driver's own network code."""
    try:
        from silvereye.compute.network import InstanceNetwork
        from silvereye.compute.nodes import Node
    except ImportError:
        raise _missing("compute driver", "silvereye/compute", "nodes cannot be used") from None
    net, node = InstanceNetwork.from_config(cfg), Node(name, uri)
    try:
        conn = node.connection()
        existed = net.lookup(conn) is not None
        net.ensure(conn)
    finally:
        node.close()
    manifest.record({"kind": "libvirt-network", "name": f"{net.name}@{uri}", "network": net.name, "uri": uri,
                     "bridge": net.bridge, "step": "node add", "existed": existed})
    if not existed:
        s.changed(f"defined and started libvirt network {net.name} ({net.subnet} on {net.bridge}) on node {name}")


def remove_network(entry: dict[str, Any], driver: Any, node: Any) -> list[str]:
    """Remove a recorded instance network from a node, unless it was there before silvereye made it."""
    if entry.get("existed"):
        return []
    from silvereye.compute.network import InstanceNetwork

    net = InstanceNetwork(entry["network"], entry["bridge"], str(driver.network.subnet))
    conn = node.connection()
    if net.lookup(conn) is None:
        return []
    net.remove(conn)
    forget_stale_runtime(node.host, net.name)
    return [f"removed libvirt network {net.name} ({entry['uri']})"]


# libvirt leaves a stopped network's dnsmasq pid file and port directory in its runtime directory.
# Once the network is gone and its dnsmasq has exited (allow it 2 s), they name nothing: remove them.
_FORGET_RUNTIME = """
d="$2"; n="$1"; i=0
while [ -f "$d/$n.pid" ] && [ $i -lt 20 ]; do
  p=$(cat "$d/$n.pid" 2>/dev/null)
  if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then rm -f "$d/$n.pid"; break; fi
  i=$((i + 1)); sleep 0.1
done
if [ -d "$d/$n" ] && [ -z "$(find "$d/$n" -type f)" ]; then rm -rf "$d/$n"; fi
"""


# libvirt keeps a domain's QEMU log after the domain is gone. The logs of this cloud's instances
# name its instances directory on QEMU's command line: those go once the instances are terminated.
_FORGET_LOGS = """
for f in "$2"/silvereye-i-*.log; do
  [ -f "$f" ] && grep -q -F -- "$1" "$f" && rm -f -- "$f" && echo "$f"
done
true
"""


def forget_instance_logs(host: Any, instances_path: Path, log_dir: str = LIBVIRT_QEMU_LOGS) -> list[str]:
    """Remove the QEMU logs libvirt kept of this cloud's (terminated) instances; the files removed."""
    out = host.run(["sh", "-c", _FORGET_LOGS, "-", f"{instances_path}/", log_dir], timeout=60)
    return [line for line in out.splitlines() if line]


def forget_stale_runtime(host: Any, network: str, run_dir: str = LIBVIRT_NETWORK_RUN) -> None:
    """On the node's own host (local or over SSH): the network name and directory are arguments, never script text."""
    host.run(["sh", "-c", _FORGET_RUNTIME, "-", network, run_dir], timeout=30)


# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminCredentials:
    account_id: str
    access_key_id: str
    secret_access_key: str
    region: str
    endpoint: str


def admin_key(cfg: Config) -> Any:
    """The admin account's root key (the service creates the account on its first start)."""
    try:
        from silvereye.services.iam import accounts
        from silvereye.store import open_store
    except ImportError:
        raise _missing("IAM service", "silvereye/services/iam", "there are no accounts or credentials") from None
    store = open_store(cfg.store_url)
    try:
        with store.read() as conn:
            if accounts.find(conn, accounts.ADMIN) is None:
                raise SilvereyeError(f"the service answers but has no admin account in {cfg.store_url}; "
                                     "see the service log")
            return accounts.root_key(conn, accounts.ADMIN)
    finally:
        store.close()


def write_credentials(cfg: Config, layout: Layout, manifest: Manifest, s: Step) -> AdminCredentials:
    """The admin's eucarc (0600) and the ``silvereye`` profile in ~/.aws/config and credentials."""
    from silvereye import accounts as client_files

    key = admin_key(cfg)
    url = endpoint_url(cfg)
    step = "credentials"
    s.changed(*ensure_dir(manifest, layout.credentials_dir, step, mode=0o700))
    s.changed(*place_file(manifest, layout.backup_dir, layout.eucarc, client_files.render(cfg, key, "eucarc"), step, mode=0o600))
    profile = render("aws-config-profile.j2", account=key.account_name, profile=PROFILE, region=cfg.region, endpoint=url)
    s.changed(*place_ini_section(manifest, layout.aws_config, f"profile {PROFILE}", profile, step))
    secret = render("aws-credentials.j2", access_key_id=key.access_key_id, secret_access_key=key.secret_access_key)
    s.changed(*place_ini_section(manifest, layout.aws_credentials, PROFILE, secret, step))
    s.detail(f"account {key.account_name} ({key.account_id}): {layout.eucarc}, profile '{PROFILE}'")
    return AdminCredentials(key.account_id, key.access_key_id, key.secret_access_key, cfg.region, url)


# ---------------------------------------------------------------------------
# The default image
# ---------------------------------------------------------------------------


def default_image(cfg: Config, creds: AdminCredentials, manifest: Manifest, s: Step) -> str:
    """Build the tiny image and register it (S3 system bucket + EC2, through EC2's own installer),
    then check, as a client would, that the API lists it; the machine image's id."""
    try:
        from silvereye.services.ec2 import install as ec2_install
    except ImportError:
        raise _missing("EC2 service", "silvereye/services/ec2",
                       "the default image cannot be registered; install with --no-image until it is") from None
    done = ec2_install.install_tiny(cfg, report=lambda line: s.log(f"  tiny image: {line}"))
    manifest.record({"kind": "image", "name": done.name, "image_id": done.image_id, "kernel_id": done.kernel_id,
                     "ramdisk_id": done.ramdisk_id, "step": "default image"})
    if done.created:
        s.changed(f"registered {done.name} as {done.image_id} (kernel {done.kernel_id}, ramdisk {done.ramdisk_id})")
    listed = api_client("ec2", creds).describe_images(ImageIds=[done.image_id])["Images"]
    if [i.get("State") for i in listed] != ["available"]:
        raise SilvereyeError(f"{done.image_id} was registered but DescribeImages at {creds.endpoint} does not show it "
                             f"available ({listed}); see the service log")
    s.detail(f"{done.name}: {done.image_id}, available")
    return done.image_id


def api_client(service: str, creds: AdminCredentials) -> Any:
    """A botocore client for this cloud, signed with the admin's keys (what boto3 would make)."""
    import botocore.session
    from botocore.config import Config as ClientConfig

    return botocore.session.get_session().create_client(
        service, endpoint_url=creds.endpoint, region_name=creds.region, aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=ClientConfig(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}))
