"""Bucket versioning: PutBucketVersioning, GetBucketVersioning.

A bucket starts unversioned (GetBucketVersioning answers no Status); once
enabled it can only be suspended, never unversioned again (S3 User Guide,
"Using versioning in S3 buckets"). What each state means for writes and
deletes is in :func:`.catalog.put_version` and :mod:`.deletion`.
"""

from __future__ import annotations

from typing import Any

from silvereye.services.gateway.context import RequestContext
from silvereye.services.s3 import catalog, errors


def put_bucket_versioning(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    config = params.get("VersioningConfiguration") or {}
    status = config.get("Status")
    if status not in ("Enabled", "Suspended"):
        raise errors.s3("IllegalVersioningConfigurationException",
                        "The Versioning element must be specified", 400)
    if config.get("MFADelete") == "Enabled" or params.get("MFA"):
        raise errors.not_implemented("MFA delete is not supported by silvereye.")
    catalog.configure(ctx.store, params["Bucket"], versioning=status)
    return {}


def get_bucket_versioning(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bucket = ctx.extras["s3.bucket"]
    if not bucket.versioning:
        return {}
    return {"Status": bucket.versioning, "MFADelete": "Disabled"}
