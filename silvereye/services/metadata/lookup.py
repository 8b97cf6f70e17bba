"""Who is asking: the instance behind a source address, read from the store; and its role's credentials.

The metadata listener sits on the silvereye bridge, reached only by guests
on the instance network (169.254.169.254 is DNAT'd to it there), so the
source address of a request is the instance's own private address: the
instance is the live record holding it. Nothing else identifies a caller,
and no caller can ask about another instance.

Role credentials are real STS sessions (the same table AssumeRole writes)
for the role of the instance's profile, as ``assumed-role/<role>/<instance
id>``; one session serves an instance for hours and is replaced an hour
before it expires, as EC2 rotates them.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2.models import addresses, vpc
from silvereye.services.ec2.models.common import loads, now, utc
from silvereye.services.ec2.models.instances import private_dns_name
from silvereye.services.ec2.tables import images, instances, tags
from silvereye.services.metadata.tree import Guest

ANSWERING_STATES = ("pending", "running", "stopping")
SESSION_SECONDS = 6 * 3600
RENEW_BEFORE = dt.timedelta(hours=1)


def guest_at(store: Any, cfg: Any, address: str) -> Guest | None:
    """The live instance holding ``address``, as the metadata service describes it; None for anyone else."""
    i = instances
    with store.read() as conn:
        row = conn.execute(sa.select(i).where(i.c.private_ip == address, i.c.state.in_(ANSWERING_STATES))
                           .order_by(i.c.state_changed.desc())).first()
        if row is None:
            return None
        image = conn.execute(sa.select(images.c.location, images.c.root_device_name)
                             .where(images.c.id == row.image_id)).first()
        tag_map = None
        if row.metadata_tags == "enabled":
            t = tags
            tag_map = dict(conn.execute(sa.select(t.c.key, t.c.value).where(
                t.c.account_id == row.account_id, t.c.resource_id == row.id).order_by(t.c.key)).all())
        role_name = _role_name(conn, row) if row.instance_profile_id else None
        public_ip = addresses.public_ips(conn, [row.id]).get(row.id)
    return Guest(
        instance_id=row.id, account_id=row.account_id, reservation_id=row.reservation_id,
        launch_index=row.launch_index, image_id=row.image_id, image_location=image.location if image else "",
        kernel_id=row.kernel_id, ramdisk_id=row.ramdisk_id, instance_type=row.instance_type,
        zone=row.availability_zone, zone_id=vpc.zone_id(cfg, row.availability_zone) if row.availability_zone in
        cfg.availability_zones else row.availability_zone, region=cfg.region, private_ip=row.private_ip,
        mac=row.mac or "", hostname=private_dns_name(row, cfg.dns_domain),
        subnet_id=vpc.subnet_id(row.account_id, row.availability_zone), vpc_id=vpc.vpc_id(row.account_id, cfg.region),
        cidr=cfg.network.subnet, launch_time=utc(row.launch_time),
        root_device_name=image.root_device_name if image else None,
        groups=tuple((g["GroupId"], g["GroupName"]) for g in loads(row.security_groups, [])),
        key_name=row.key_name, public_key=row.public_key, user_data=row.user_data, http_tokens=row.http_tokens,
        hop_limit=row.http_hop_limit, http_endpoint=row.http_endpoint, tags=tag_map,
        profile_arn=row.instance_profile_arn, profile_id=row.instance_profile_id, role_name=role_name,
        public_ip=public_ip,
    )


def _role(conn: sa.Connection, profile_id: str) -> Any | None:
    from silvereye.services.iam import schema

    p, r = schema.instance_profiles, schema.roles
    profile = conn.execute(sa.select(p).where(p.c.id == profile_id)).first()
    if profile is None or not profile.role_id:
        return None
    return conn.execute(sa.select(r).where(r.c.id == profile.role_id)).first()


def _role_name(conn: sa.Connection, row: Any) -> str | None:
    role = _role(conn, row.instance_profile_id)
    return role.name if role is not None else None


class RoleCredentials:
    """STS sessions for instances' roles, one per instance, renewed before they expire."""

    def __init__(self, store: Any):
        self.store = store
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def info(self, guest: Guest) -> str:
        return json.dumps({
            "Code": "Success",
            "LastUpdated": now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "InstanceProfileArn": guest.profile_arn,
            "InstanceProfileId": guest.profile_id,
        }, indent=2)

    def credentials(self, guest: Guest) -> str:
        key = (guest.instance_id, guest.role_name or "")
        with self._lock:
            cached = self._cache.get(key)
            if cached is None or cached["Expiration"] - now() < RENEW_BEFORE:
                cached = self._issue(guest)
                self._cache[key] = cached
        return json.dumps({
            "Code": "Success",
            "LastUpdated": cached["Issued"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Type": "AWS-HMAC",
            "AccessKeyId": cached["AccessKeyId"],
            "SecretAccessKey": cached["SecretAccessKey"],
            "Token": cached["SessionToken"],
            "Expiration": cached["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }, indent=2)

    def _issue(self, guest: Guest) -> dict[str, Any]:
        from silvereye.services.gateway.identity import Principal
        from silvereye.services.sts import sessions

        with self.store.write() as conn:
            role = _role(conn, guest.profile_id or "")
            if role is None:
                raise LookupError(f"the instance profile of {guest.instance_id} has no role")
            principal = Principal(
                account_id=role.account_id, arn=f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{guest.instance_id}",
                user_id=f"{role.id}:{guest.instance_id}", kind="assumed-role", name=role.name,
                session_name=guest.instance_id, role_id=role.id)
            creds = sessions.issue(conn, principal, entity_id=role.id, seconds=SESSION_SECONDS,
                                   session_name=guest.instance_id)
        return {**creds, "Expiration": utc(creds["Expiration"]), "Issued": now()}
