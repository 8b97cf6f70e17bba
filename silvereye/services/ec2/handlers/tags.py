"""CreateTags, DeleteTags, DescribeTags: on every registered kind of resource."""

from __future__ import annotations

from typing import Any

from silvereye.services.ec2 import filters, pagination
from silvereye.services.ec2.models import tags
from silvereye.services.gateway.context import RequestContext

FILTERS = filters.FilterSpec(fields={
    "key": lambda r: r.key,
    "value": lambda r: r.value,
    "resource-id": lambda r: r.resource_id,
    "resource-type": lambda r: r.resource_type,
})


def _kinds(ctx: RequestContext, conn: Any, resource_ids: list[str]) -> list[tuple[str, tags.Taggable]]:
    out = []
    for rid in dict.fromkeys(resource_ids):
        kind = tags.kind_of(rid)
        if not kind.exists(conn, ctx.account_id, rid, ctx.config):
            raise kind.not_found(rid)
        out.append((rid, kind))
    return out


def create_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    pairs = tags.check(params.get("Tags"))
    with ctx.store.write() as conn:
        for rid, kind in _kinds(ctx, conn, params["Resources"]):
            tags.put(conn, ctx.account_id, rid, kind.resource_type, pairs)
    return {}


def delete_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.write() as conn:
        for rid, _ in _kinds(ctx, conn, params["Resources"]):
            tags.remove(conn, ctx.account_id, rid, params.get("Tags"))
    return {}


def describe_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        rows = tags.rows(conn, ctx.account_id)
    kept = filters.apply(FILTERS, rows, params.get("Filters"))
    page, token = pagination.page(kept, params, key=lambda r: f"{r.resource_id}\x00{r.key}", minimum=5, maximum=1000)
    return {"Tags": [{"ResourceId": r.resource_id, "ResourceType": r.resource_type, "Key": r.key, "Value": r.value}
                     for r in page], "NextToken": token}
