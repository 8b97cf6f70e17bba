"""CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.ec2 import errors, filters
from silvereye.services.ec2.models import key_pairs, tags
from silvereye.services.ec2.models.common import check_ids
from silvereye.services.ec2.tables import key_pairs as k
from silvereye.services.gateway.context import RequestContext

RESOURCE_TYPE = "key-pair"


def _tag_specs(params: dict[str, Any]) -> list[tuple[str, str]]:
    return tags.specifications(params, {RESOURCE_TYPE: RESOURCE_TYPE}).get(RESOURCE_TYPE, [])


def create_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = key_pairs.check_name(params.get("KeyName"))
    pairs = _tag_specs(params)
    new = key_pairs.create(params.get("KeyType") or "rsa", params.get("KeyFormat") or "pem", comment=name)
    with ctx.store.write() as conn:
        key_id = key_pairs.insert(conn, ctx.account_id, name, new.key_type, new.fingerprint, new.public_openssh)
        tags.put(conn, ctx.account_id, key_id, RESOURCE_TYPE, pairs)
    return {"KeyPairId": key_id, "KeyName": name, "KeyFingerprint": new.fingerprint, "KeyMaterial": new.private_material,
            "Tags": tags.tag_list(dict(pairs))}


def import_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = key_pairs.check_name(params.get("KeyName"))
    pairs = _tag_specs(params)
    material = params.get("PublicKeyMaterial") or b""
    if isinstance(material, str):
        material = material.encode()
    key_type, fingerprint, public = key_pairs.parse_public(material)
    with ctx.store.write() as conn:
        key_id = key_pairs.insert(conn, ctx.account_id, name, key_type, fingerprint, public)
        tags.put(conn, ctx.account_id, key_id, RESOURCE_TYPE, pairs)
    return {"KeyPairId": key_id, "KeyName": name, "KeyFingerprint": fingerprint, "Tags": tags.tag_list(dict(pairs))}


FILTERS = filters.FilterSpec(
    fields={
        "key-pair-id": lambda x: x.row.id,
        "key-name": lambda x: x.row.name,
        "fingerprint": lambda x: x.row.fingerprint,
        "key-type": lambda x: x.row.key_type,
    },
    tags=filters.row_tags,
)


def describe_key_pairs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("KeyNames") or []
    key_ids = check_ids(params.get("KeyPairIds"), ("key",), "InvalidKeyPair.Malformed")
    with ctx.store.read() as conn:
        stmt = sa.select(k).where(k.c.account_id == ctx.account_id)
        if names:
            stmt = stmt.where(k.c.name.in_(names))
        if key_ids:
            stmt = stmt.where(k.c.id.in_(key_ids))
        rows = list(conn.execute(stmt.order_by(k.c.name)))
        tag_maps = tags.of(conn, ctx.account_id, [r.id for r in rows])
    found_names = {r.name for r in rows}
    for name in names:
        if name not in found_names:
            raise errors.key_pair_not_found(name)
    found_ids = {r.id for r in rows}
    for key_id in key_ids:
        if key_id not in found_ids:
            raise errors.key_pair_id_not_found(key_id)
    kept = filters.apply(FILTERS, [filters.Tagged(r, tag_maps.get(r.id, {})) for r in rows], params.get("Filters"))
    with_public = bool(params.get("IncludePublicKey"))
    return {"KeyPairs": [{
        "KeyPairId": x.row.id,
        "KeyName": x.row.name,
        "KeyFingerprint": x.row.fingerprint,
        "KeyType": x.row.key_type,
        "CreateTime": x.row.created,
        "PublicKey": f"{x.row.public_key} {x.row.name}" if with_public else None,
        "Tags": tags.tag_list(x.tag_map),
    } for x in kept]}


def delete_key_pair(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Deleting a key that does not exist succeeds, as on EC2; running instances keep their key."""
    name, key_id = params.get("KeyName"), params.get("KeyPairId")
    if not name and not key_id:
        raise errors.missing_parameter("KeyName")
    with ctx.store.write() as conn:
        stmt = sa.select(k).where(k.c.account_id == ctx.account_id)
        stmt = stmt.where(k.c.name == name) if name else stmt.where(k.c.id == key_id)
        row = conn.execute(stmt).first()
        if row is not None:
            conn.execute(sa.delete(k).where(k.c.id == row.id))
            tags.remove_all(conn, [row.id])
    return {"Return": True, "KeyPairId": row.id if row is not None else key_id}
