"""Server certificates for HTTPS load balancers: upload, get, list, update, delete, tags.

The private key is kept (the load balancer needs it) but never returned.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.gateway.context import RequestContext
from silvereye.services.iam import certificates, entities, quotas, schema, shapes, tagging
from silvereye.services.iam.cache import writing
from silvereye.services.iam.entities import SERVER_CERTIFICATE
from silvereye.services.iam.errors import delete_conflict

sc = schema.server_certificates


def upload_server_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    path = entities.check_path(params.get("Path"))
    checked = certificates.check(params["CertificateBody"], params["PrivateKey"], params.get("CertificateChain"))
    with writing(ctx.store) as conn:
        quotas.enforce(conn, sc, "ServerCertificatesPerAccount", quotas.SERVER_CERTIFICATES, sc.c.account_id == ctx.account_id)
        row = entities.insert(
            conn, SERVER_CERTIFICATE, ctx.account_id, params["ServerCertificateName"], path,
            body=params["CertificateBody"].strip(), chain=(params.get("CertificateChain") or "").strip() or None,
            private_key=params["PrivateKey"].strip(), uploaded=entities.now(), expiration=checked.expiration,
        )
        tagging.put(conn, ctx.account_id, row.id, params.get("Tags"))
        tags = tagging.of(conn, row.id)
    out: dict[str, Any] = {"ServerCertificateMetadata": shapes.server_certificate_metadata(row)}
    if tags:
        out["Tags"] = tags
    return out


def get_server_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = entities.get(conn, SERVER_CERTIFICATE, ctx.account_id, params["ServerCertificateName"])
        tags = tagging.of(conn, row.id)
    cert: dict[str, Any] = {"ServerCertificateMetadata": shapes.server_certificate_metadata(row), "CertificateBody": row.body}
    if row.chain:
        cert["CertificateChain"] = row.chain
    if tags:
        cert["Tags"] = tags
    return {"ServerCertificate": cert}


def list_server_certificates(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        rows, more = entities.list_entities(conn, SERVER_CERTIFICATE, ctx.account_id, params)
    return {"ServerCertificateMetadataList": [shapes.server_certificate_metadata(r) for r in rows], **more}


def update_server_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, SERVER_CERTIFICATE, ctx.account_id, params["ServerCertificateName"])
        entities.rename(conn, SERVER_CERTIFICATE, row, params.get("NewServerCertificateName"), params.get("NewPath"))
    return {}


def delete_server_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with writing(ctx.store) as conn:
        row = entities.get(conn, SERVER_CERTIFICATE, ctx.account_id, params["ServerCertificateName"])
        user = certificates.in_use(conn, ctx.account_id, row)
        if user:
            raise delete_conflict(f"Certificate: {row.id} is currently in use by {user}. Please remove it first.")
        tagging.remove_all(conn, row.id)
        conn.execute(sa.delete(sc).where(sc.c.id == row.id))
    return {}


def tag_server_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.tag_named(ctx, SERVER_CERTIFICATE, params)


def untag_server_certificate(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.untag_named(ctx, SERVER_CERTIFICATE, params)


def list_server_certificate_tags(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return tagging.list_named(ctx, SERVER_CERTIFICATE, params)
