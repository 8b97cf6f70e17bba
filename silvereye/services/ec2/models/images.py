"""Image records: who owns one, who may launch it, how it is described.

An image (``ami-`` machine, ``aki-`` kernel, ``ari-`` ramdisk, as Eucalyptus
named them) is a row naming a file of the image cache by content hash, and
the S3 object it was registered from (so the cache can be refilled). Who
sees an image is AWS's rule: its owner, everyone when it is public
(launch permission group ``all``), and the accounts it is shared with.

Deregistering hides an image at once; its row and cache file stay while
instances launched from it still run (their disks are overlays on that
file), and housekeeping drops both when the last one is gone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2 import errors, filters
from silvereye.services.ec2.models import tags
from silvereye.services.ec2.models.common import check_ids, iso, new_id, now
from silvereye.services.ec2.tables import images as im
from silvereye.services.ec2.tables import instances as inst
from silvereye.services.ec2.tables import launch_permissions as lp

IMAGE_PREFIXES = ("ami", "aki", "ari", "emi", "eki", "eri")
KIND_PREFIX = {"machine": "ami", "kernel": "aki", "ramdisk": "ari"}
PREFIX_KIND = {"ami": "machine", "aki": "kernel", "ari": "ramdisk", "emi": "machine", "eki": "kernel", "eri": "ramdisk"}
ARCHITECTURES = ("x86_64",)
BOOT_MODES = ("legacy-bios", "uefi")
DEFAULT_ROOT_DEVICE = "/dev/sda1"
AMAZON_ALIAS = "amazon"
VISIBLE_STATES = ("available", "pending", "failed")


def check_image_id(value: str) -> str:
    return check_ids([value], IMAGE_PREFIXES, "InvalidAMIID.Malformed")[0]


def get(conn: sa.Connection, image_id: str) -> Any | None:
    row = conn.execute(sa.select(im).where(im.c.id == image_id)).first()
    return row if row is not None and row.state != "deregistered" else None


def shared_with(conn: sa.Connection, image_ids: Iterable[str]) -> dict[str, set[str]]:
    """image id -> account ids it is shared with."""
    out: dict[str, set[str]] = {}
    wanted = list(image_ids)
    if wanted:
        for r in conn.execute(sa.select(lp.c.image_id, lp.c.account_id).where(lp.c.image_id.in_(wanted))):
            out.setdefault(r.image_id, set()).add(r.account_id)
    return out


def can_launch(conn: sa.Connection, row: Any, account_id: str) -> bool:
    if row.account_id == account_id or row.public:
        return True
    return account_id in shared_with(conn, [row.id]).get(row.id, set())


def visible(conn: sa.Connection, image_id: str, account_id: str) -> Any:
    """The image if the account may see (and launch) it; InvalidAMIID.NotFound otherwise."""
    check_image_id(image_id)
    row = get(conn, image_id)
    if row is None or not can_launch(conn, row, account_id):
        raise errors.image_not_found([image_id])
    return row


def owned(conn: sa.Connection, image_id: str, account_id: str) -> Any:
    """The image if the account owns it (attribute changes, deregistration)."""
    row = visible(conn, image_id, account_id)
    if row.account_id != account_id:
        raise errors.error("AuthFailure", f"Not authorized for image:{image_id}", 403)
    return row


def check_name(conn: sa.Connection, account_id: str, name: str) -> str:
    if not 3 <= len(name) <= 128 or not all(c.isalnum() or c in "()[] ./-'@_" for c in name):
        raise errors.error(
            "InvalidAMIName.Malformed",
            "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, "
            "'(', ')', '.', '-', '/' and '_'",
        )
    taken = conn.execute(sa.select(im.c.id).where(
        im.c.account_id == account_id, im.c.name == name, im.c.state != "deregistered")).scalar()
    if taken:
        raise errors.image_name_duplicate(name, taken)
    return name


@dataclasses.dataclass
class NewImage:
    kind: str
    name: str
    location: str
    format: str
    sha256: str
    size: int
    architecture: str = "x86_64"
    description: str | None = None
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    kernel_cmdline: str | None = None
    root_device_name: str | None = None
    boot_mode: str | None = None
    owner_alias: str | None = None
    public: bool = False
    state: str = "available"
    source_instance_id: str | None = None


def insert(conn: sa.Connection, account_id: str, new: NewImage, image_id: str | None = None) -> str:
    image_id = image_id or new_id(KIND_PREFIX[new.kind])
    values = dataclasses.asdict(new)
    if new.kind == "machine":
        values["root_device_name"] = new.root_device_name or DEFAULT_ROOT_DEVICE
        values["boot_mode"] = new.boot_mode or "legacy-bios"
    conn.execute(sa.insert(im).values(id=image_id, account_id=account_id, created=now(), **values))
    return image_id


def check_parts(conn: sa.Connection, account_id: str, kernel_id: str | None, ramdisk_id: str | None) -> None:
    """A machine image's kernel and ramdisk must be images of those kinds the account may launch."""
    for wanted, kind in ((kernel_id, "kernel"), (ramdisk_id, "ramdisk")):
        if not wanted:
            continue
        row = visible(conn, wanted, account_id)
        if row.kind != kind:
            raise errors.invalid_value(wanted, f"{kind.capitalize()}Id", f"The image is a {row.kind} image, not a {kind}.")
    if ramdisk_id and not kernel_id:
        raise errors.combination("A ramdisk needs a kernel: give KernelId too.")


def deregister(conn: sa.Connection, row: Any) -> None:
    conn.execute(sa.update(im).where(im.c.id == row.id).values(state="deregistered", deregistered_at=now(), public=False))
    conn.execute(sa.delete(lp).where(lp.c.image_id == row.id))
    tags.remove_all(conn, [row.id])


def unused_deregistered(conn: sa.Connection) -> list[Any]:
    """Deregistered images no instance (other than terminated ones) still boots from."""
    in_use = sa.select(inst.c.image_id).where(inst.c.state != "terminated")
    kernels = sa.select(inst.c.kernel_id).where(inst.c.state != "terminated", inst.c.kernel_id.is_not(None))
    ramdisks = sa.select(inst.c.ramdisk_id).where(inst.c.state != "terminated", inst.c.ramdisk_id.is_not(None))
    return list(conn.execute(sa.select(im).where(
        im.c.state == "deregistered", im.c.id.not_in(in_use), im.c.id.not_in(kernels), im.c.id.not_in(ramdisks))))


def files_in_use(conn: sa.Connection) -> set[tuple[str, str]]:
    """(sha256, format) of every cached file an image row (of any state) still names."""
    return {(r.sha256, r.format) for r in conn.execute(sa.select(im.c.sha256, im.c.format))}


# -- launch permissions ------------------------------------------------------------


def permissions(conn: sa.Connection, row: Any) -> list[dict[str, str]]:
    out = [{"Group": "all"}] if row.public else []
    grantees = conn.execute(sa.select(lp.c.account_id).where(lp.c.image_id == row.id).order_by(lp.c.account_id))
    return out + [{"UserId": a} for a in grantees.scalars()]


def change_permissions(conn: sa.Connection, row: Any, add: list[dict], remove: list[dict]) -> None:
    for item in add + remove:
        group, user = item.get("Group"), item.get("UserId")
        if group is not None and group != "all":
            raise errors.invalid_value(group, "userGroup", "The only group is 'all'.")
        if user is not None and not (user.isdigit() and len(user) == 12):
            raise errors.invalid_value(user, "userId", "Expected a 12-digit account id.")
        if group is None and user is None:
            raise errors.missing_parameter("LaunchPermission.Group or LaunchPermission.UserId")
    for item in remove:
        if item.get("Group") == "all":
            conn.execute(sa.update(im).where(im.c.id == row.id).values(public=False))
        elif item.get("UserId"):
            conn.execute(sa.delete(lp).where(lp.c.image_id == row.id, lp.c.account_id == item["UserId"]))
    for item in add:
        if item.get("Group") == "all":
            conn.execute(sa.update(im).where(im.c.id == row.id).values(public=True))
        elif item.get("UserId") and item["UserId"] != row.account_id:
            have = conn.execute(sa.select(lp.c.account_id).where(
                lp.c.image_id == row.id, lp.c.account_id == item["UserId"])).first()
            if have is None:
                conn.execute(sa.insert(lp).values(image_id=row.id, account_id=item["UserId"], owner_id=row.account_id))


def reset_permissions(conn: sa.Connection, row: Any) -> None:
    conn.execute(sa.update(im).where(im.c.id == row.id).values(public=False))
    conn.execute(sa.delete(lp).where(lp.c.image_id == row.id))


# -- describing ----------------------------------------------------------------------


def shape(row: Any, tag_map: dict[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ImageId": row.id,
        "ImageLocation": row.location,
        "State": row.state,
        "OwnerId": row.account_id,
        "CreationDate": iso(row.created),
        "Public": bool(row.public),
        "Architecture": row.architecture,
        "ImageType": row.kind,
        "Name": row.name,
        "Description": row.description,
        "KernelId": row.kernel_id,
        "RamdiskId": row.ramdisk_id,
        "ImageOwnerAlias": row.owner_alias,
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "RootDeviceType": "ebs" if row.format == "ebs" else "instance-store",
        "VirtualizationType": "hvm",
        "BlockDeviceMappings": [],
        "ProductCodes": [],
        "Tags": tags.tag_list(tag_map),
    }
    if row.kind == "machine":
        out["RootDeviceName"] = row.root_device_name
        out["BootMode"] = row.boot_mode
    if row.state == "failed":
        out["StateReason"] = {"Code": "Client.InvalidManifest", "Message": "The image could not be made"}
    return out


FILTERS = filters.FilterSpec(
    fields={
        "architecture": lambda r: r.architecture,
        "description": lambda r: r.description,
        "image-id": lambda r: r.id,
        "image-type": lambda r: r.kind,
        "is-public": lambda r: bool(r.public),
        "kernel-id": lambda r: r.kernel_id,
        "ramdisk-id": lambda r: r.ramdisk_id,
        "manifest-location": lambda r: r.location,
        "name": lambda r: r.name,
        "owner-alias": lambda r: r.owner_alias,
        "owner-id": lambda r: r.account_id,
        "root-device-name": lambda r: r.root_device_name,
        "root-device-type": lambda r: "ebs" if r.format == "ebs" else "instance-store",
        "state": lambda r: r.state,
        "virtualization-type": lambda r: "hvm",
        "platform-details": lambda r: "Linux/UNIX",
        "boot-mode": lambda r: r.boot_mode,
        "creation-date": lambda r: iso(r.created),
        "source-instance-id": lambda r: r.source_instance_id,
    },
    tags=lambda r: r.tag_map,
    never=frozenset({"block-device-mapping.snapshot-id", "block-device-mapping.volume-id", "product-code",
                     "hypervisor", "platform"}),
)


def describe(conn: sa.Connection, account_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """DescribeImages: ImageIds, Owners, ExecutableUsers and Filters, as AWS combines them."""
    wanted_ids = check_ids(params.get("ImageIds"), IMAGE_PREFIXES, "InvalidAMIID.Malformed")
    stmt = sa.select(im).where(im.c.state.in_(VISIBLE_STATES))
    if wanted_ids:
        stmt = stmt.where(im.c.id.in_(wanted_ids))
    rows = list(conn.execute(stmt))
    shares = shared_with(conn, [r.id for r in rows])

    def may_see(r: Any) -> bool:
        return r.account_id == account_id or r.public or account_id in shares.get(r.id, set())

    rows = [r for r in rows if may_see(r)]
    if wanted_ids:
        missing = sorted(set(wanted_ids) - {r.id for r in rows})
        if missing:
            raise errors.image_not_found(missing)
    owners = params.get("Owners")
    if owners:
        rows = [r for r in rows if _owned_by(r, owners, account_id)]
    executable = params.get("ExecutableUsers")
    if executable:
        rows = [r for r in rows if _executable_by(r, executable, account_id, shares.get(r.id, set()))]
    tag_maps = tags.of(conn, account_id, [r.id for r in rows])
    enriched = [_Tagged(r, tag_maps.get(r.id, {})) for r in rows]
    kept = filters.apply(FILTERS, enriched, params.get("Filters"))
    return [shape(t.row, t.tag_map) for t in sorted(kept, key=lambda t: t.row.id)]


def _owned_by(row: Any, owners: list[str], account_id: str) -> bool:
    for owner in owners:
        if owner == "self" and row.account_id == account_id:
            return True
        if owner == row.account_id or (row.owner_alias and owner == row.owner_alias):
            return True
    return False


def _executable_by(row: Any, users: list[str], account_id: str, shares: set[str]) -> bool:
    for user in users:
        if user == "all" and row.public:
            return True
        if user == "self" and (row.public or account_id in shares or row.account_id == account_id):
            return True
        if user in shares:
            return True
    return False


class _Tagged:
    """An image row with its tags, for the filter engine."""

    __slots__ = ("row", "tag_map")

    def __init__(self, row: Any, tag_map: dict[str, str]):
        self.row, self.tag_map = row, tag_map

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def purge(conn: sa.Connection, account_id: str) -> None:
    conn.execute(sa.delete(lp).where(lp.c.owner_id == account_id))
    conn.execute(sa.delete(lp).where(lp.c.account_id == account_id))
    conn.execute(sa.update(im).where(im.c.account_id == account_id, im.c.state != "deregistered")
                 .values(state="deregistered", deregistered_at=now(), public=False))
