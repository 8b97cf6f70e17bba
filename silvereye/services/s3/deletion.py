"""Deleting a key or one of its versions, by the bucket's versioning state (DeleteObject, DeleteObjects, lifecycle).

S3 User Guide, "Deleting object versions":

* unversioned bucket: the object is removed;
* versioning enabled, no version id: a delete marker becomes the latest version;
* versioning suspended, no version id: the ``null`` version is removed and a
  delete marker with version id ``null`` takes its place;
* a version id: that version is removed for good (a delete marker too); the
  next newest version becomes the latest.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from silvereye.services.s3 import catalog, names
from silvereye.services.s3.catalog import Bucket, NewVersion


def delete_key(conn: sa.Connection, bucket: Bucket, key: str, version_id: str | None,
               writer: str) -> tuple[dict[str, Any], list[str]]:
    """Delete ``key`` (or one version); returns the DeleteObject result and the blobs to free after commit."""
    stored = names.check_key(key)
    if version_id:
        names.check_version_id(version_id)
        row = catalog.version(conn, bucket.name, stored, version_id)
        if row is None:
            return {"VersionId": version_id}, []
        freed = catalog.remove_version(conn, row)
        return {"VersionId": version_id, "DeleteMarker": True if row.delete_marker else None}, freed
    if bucket.versioning in ("Enabled", "Suspended"):
        marker, freed = catalog.put_version(conn, bucket, stored,
                                            NewVersion(size=0, etag="", owner=writer, delete_marker=True), [])
        return {"DeleteMarker": True, "VersionId": marker.version_id}, freed
    current = catalog.latest(conn, bucket.name, stored)
    if current is None:
        return {}, []
    return {}, catalog.remove_version(conn, current)
