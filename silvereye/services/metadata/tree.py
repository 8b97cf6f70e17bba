"""What the metadata service tells an instance about itself: the tree under /latest/.

A :class:`Guest` is everything known about one instance (read from the
store by :mod:`.lookup`); :func:`tree` lays it out as EC2 does: a directory
is a dict and reads as its entries one per line (sub-directories with a
trailing ``/``), a leaf is text, and leaves that cost something to produce
(role credentials) are functions called only when read. Paths that do not
apply to an instance (``public-ipv4`` without an elastic IP, ``iam/``
without an instance profile) are simply absent, as on EC2.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

Node = Union[str, dict, Callable[[], str]]
VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
            "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25", "2014-11-05",
            "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24",
            "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23", "2021-07-15", "2022-09-24", "latest")


@dataclass(frozen=True)
class Guest:
    instance_id: str
    account_id: str
    reservation_id: str
    launch_index: int
    image_id: str
    image_location: str
    kernel_id: str | None
    ramdisk_id: str | None
    instance_type: str
    zone: str
    zone_id: str
    region: str
    private_ip: str
    mac: str
    hostname: str
    subnet_id: str
    vpc_id: str
    cidr: str
    launch_time: dt.datetime
    root_device_name: str | None
    groups: tuple[tuple[str, str], ...]  # (id, name)
    key_name: str | None = None
    public_key: str | None = None
    user_data: bytes | None = None
    http_tokens: str = "optional"
    hop_limit: int = 1
    http_endpoint: str = "enabled"
    tags: dict[str, str] | None = None  # only when the instance allows tags in metadata
    profile_arn: str | None = None
    profile_id: str | None = None
    role_name: str | None = None
    public_ip: str | None = None  # its elastic IP, while associated
    extra: dict[str, Any] = field(default_factory=dict)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity_document(g: Guest) -> str:
    """dynamic/instance-identity/document, with EC2's keys and key order."""
    doc = {
        "accountId": g.account_id,
        "architecture": "x86_64",
        "availabilityZone": g.zone,
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": g.image_id,
        "instanceId": g.instance_id,
        "instanceType": g.instance_type,
        "kernelId": g.kernel_id,
        "pendingTime": _iso(g.launch_time),
        "privateIp": g.private_ip,
        "ramdiskId": g.ramdisk_id,
        "region": g.region,
        "version": "2017-09-30",
    }
    return json.dumps(doc, indent=2)


def tree(g: Guest, credentials: Callable[[], str] | None = None, profile_info: Callable[[], str] | None = None) -> dict:
    root_short = (g.root_device_name or "/dev/sda1").removeprefix("/dev/")
    mac_dir: dict[str, Node] = {
        "device-number": "0",
        "local-hostname": g.hostname,
        "local-ipv4s": g.private_ip,
        "mac": g.mac,
        "owner-id": g.account_id,
        "security-group-ids": "\n".join(i for i, _ in g.groups),
        "security-groups": "\n".join(n for _, n in g.groups),
        "subnet-id": g.subnet_id,
        "subnet-ipv4-cidr-block": g.cidr,
        "vpc-id": g.vpc_id,
        "vpc-ipv4-cidr-block": g.cidr,
        "vpc-ipv4-cidr-blocks": g.cidr,
    }
    meta: dict[str, Node] = {
        "ami-id": g.image_id,
        "ami-launch-index": str(g.launch_index),
        "ami-manifest-path": g.image_location or "(unknown)",
        "block-device-mapping": {"ami": root_short, "root": g.root_device_name or "/dev/sda1"},
        "hostname": g.hostname,
        "instance-action": "none",
        "instance-id": g.instance_id,
        "instance-life-cycle": "on-demand",
        "instance-type": g.instance_type,
        "local-hostname": g.hostname,
        "local-ipv4": g.private_ip,
        "mac": g.mac,
        "network": {"interfaces": {"macs": {g.mac: mac_dir}}},
        "placement": {"availability-zone": g.zone, "availability-zone-id": g.zone_id, "region": g.region},
        "profile": "default-hvm",
        "reservation-id": g.reservation_id,
        "security-groups": "\n".join(n for _, n in g.groups),
        "services": {"domain": "amazonaws.com", "partition": "aws"},
    }
    if g.public_ip:
        meta["public-ipv4"] = g.public_ip
        mac_dir["public-ipv4s"] = g.public_ip
        mac_dir["ipv4-associations"] = {g.public_ip: g.private_ip}
    if g.kernel_id:
        meta["kernel-id"] = g.kernel_id
    if g.ramdisk_id:
        meta["ramdisk-id"] = g.ramdisk_id
    if g.public_key:
        meta["public-keys"] = {f"0={g.key_name or 'key'}": {"openssh-key": g.public_key.rstrip("\n") + "\n"}}
    if g.tags is not None:
        meta["tags"] = {"instance": dict(g.tags)}
    if g.role_name and credentials is not None and profile_info is not None:
        meta["iam"] = {"info": profile_info, "security-credentials": {g.role_name: credentials}}
    latest: dict[str, Node] = {
        "meta-data": meta,
        "dynamic": {"instance-identity": {"document": identity_document(g)}},
    }
    if g.user_data is not None:
        latest["user-data"] = lambda: g.user_data  # bytes, served as they are
    return latest


def _listing(directory: dict) -> str:
    out = []
    for name, value in directory.items():
        if name.startswith("0=") and isinstance(value, dict):
            out.append(name)  # public-keys/ lists "0=keyname" (its directory is reached as "0/")
        else:
            out.append(name + "/" if isinstance(value, dict) else name)
    return "\n".join(out)


def resolve(root: dict, parts: list[str]) -> str | bytes | None:
    """The text at a path below /latest/ (a directory's listing for a directory); None if absent."""
    node: Node = root
    for part in parts:
        if not isinstance(node, dict):
            return None
        child = node.get(part)
        if child is None:  # public-keys/0 is the directory listed as "0=<name>"
            child = next((v for k, v in node.items() if k.startswith(part + "=") and part.isdigit()), None)
        if child is None:
            return None
        node = child
    if isinstance(node, dict):
        return _listing(node)
    if callable(node):
        return node()
    return node
