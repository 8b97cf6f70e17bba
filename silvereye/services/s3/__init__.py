"""S3 on the one listener: durable object storage (Walrus' job in Eucalyptus).

Modules, by concern:

handlers      buckets, objects, copy, multipart, listing, acl, bucket_policy, cors, tagging,
              versioning, lifecycle (one function per S3 operation)
access        authorize (the service's authorizer), authz (policy + ACL decisions), grants (ACLs),
              owners (canonical user ids)
storage       tables, catalog (rows and the write steps), blobstore (bytes on disk), ingest
              (streaming bodies in), reading (conditions, ranges, bytes out), uploads, deletion, writes
rules         names, props, checksums, lifecycle_rules, walk (listing pages)
internal      the API other services (EC2 images, EBS snapshots) use without HTTP

At start-up the blob store is swept (temporary files of interrupted uploads,
blobs no committed row refers to) before the first request, and the
lifecycle controller is started.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from silvereye.services.registry import Service, collect_handlers
from silvereye.services.s3 import (
    acl,
    bucket_policy,
    buckets,
    catalog,
    copy,
    cors,
    lifecycle,
    listing,
    multipart,
    objects,
    tables,
    tagging,
    versioning,
)
from silvereye.services.s3.authorize import authorize
from silvereye.services.s3.blobstore import for_config

log = logging.getLogger("silvereye.s3")


def _startup(gateway: Any) -> None:
    store = gateway.store

    def referenced(ids: list[str]) -> set[str]:
        with store.read() as conn:
            return catalog.referenced(conn, ids)

    report = for_config(gateway.config).sweep(referenced)
    if report.temporary or report.unreferenced:
        log.info("object store: removed %d unfinished upload(s) and %d unreferenced blob(s) left by an earlier run",
                 report.temporary, report.unreferenced)
    gateway.spawn(lifecycle.controller(gateway))


def _describe(conn: sa.Connection, account_id: str) -> list[str]:
    b = tables.buckets
    n = conn.execute(sa.select(sa.func.count()).select_from(b).where(b.c.account_id == account_id)).scalar_one()
    return [f"{n} S3 bucket{'s' if n != 1 else ''}"] if n else []


def _purge(conn: sa.Connection, account_id: str) -> None:
    """Remove an account's buckets and objects (their blobs go at the next start's sweep)."""
    b = tables.buckets
    for name in list(conn.execute(sa.select(b.c.name).where(b.c.account_id == account_id)).scalars()):
        catalog.delete_bucket_contents(conn, name)
        conn.execute(sa.delete(b).where(b.c.name == name))


def _register_account_resources() -> None:
    from silvereye.services.iam.accounts import register_resources

    register_resources(_describe, _purge)


_register_account_resources()

SERVICE = Service(
    name="s3",
    signing_name="s3",
    iam_prefix="s3",
    euca_path="/services/objectstorage",
    handlers=collect_handlers(
        "s3", acl, bucket_policy, buckets, copy, cors, lifecycle, listing, multipart, objects, tagging, versioning,
    ),
    authorize=authorize,
    options=cors.preflight,
    startup=[_startup],
)

__all__ = ["SERVICE"]
