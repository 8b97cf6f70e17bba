"""S3's tables: buckets, object versions, the extents holding their bytes, multipart uploads.

An object version's bytes are a list of *extents* -- (blob, offset, length)
slices of immutable blob files named by random ids (:mod:`.blobstore`). A
plain PUT makes one blob and one extent; completing a multipart upload hands
the parts' extents to the object without copying a byte; CopyObject and
UploadPartCopy share the source's extents. A blob is freed when no extent
refers to it any more, after the transaction that dropped the last
reference has committed.

Keys are stored as UTF-8 bytes (``LargeBinary``): both SQLite and PostgreSQL
then order them byte-wise, which is S3's listing order, whatever the
database's collation. Times are integer microseconds since the epoch (UTC),
the same on both databases. Configuration documents a bucket carries (ACL,
CORS, lifecycle, tags) are JSON text.

Every version of every key is one row of ``s3_objects``, delete markers
included; ``is_latest`` marks the current one. Unversioned buckets keep at
most one row per key, with version id ``null`` as S3 reports it.
"""

from __future__ import annotations

import sqlalchemy as sa

from silvereye.store import create_tables, metadata, register_migrations

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # an INTEGER PRIMARY KEY is SQLite's rowid
Micros = sa.BigInteger
Key = sa.LargeBinary(1024)
Json = sa.Text

buckets = sa.Table(
    "s3_buckets",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("created", Micros, nullable=False),
    sa.Column("acl", Json, nullable=False),
    sa.Column("policy", sa.Text, nullable=True),
    sa.Column("cors", Json, nullable=True),
    sa.Column("lifecycle", Json, nullable=True),
    sa.Column("tags", Json, nullable=True),
    sa.Column("versioning", sa.String(16), nullable=False, default=""),  # '' | 'Enabled' | 'Suspended'
    sa.Column("system", sa.Boolean, nullable=False, default=False),  # silvereye's own: not listed to users
)

objects = sa.Table(
    "s3_objects",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),  # grows with time: newer versions sort later
    sa.Column("bucket", sa.String(63), sa.ForeignKey("s3_buckets.name", ondelete="CASCADE"), nullable=False),
    sa.Column("key", Key, nullable=False),
    sa.Column("version_id", sa.String(64), nullable=False),
    sa.Column("is_latest", sa.Boolean, nullable=False),
    sa.Column("delete_marker", sa.Boolean, nullable=False, default=False),
    sa.Column("size", sa.BigInteger, nullable=False, default=0),
    sa.Column("etag", sa.String(64), nullable=False, default=""),  # hex, without quotes; 'md5-N' for multipart
    sa.Column("modified", Micros, nullable=False),
    sa.Column("owner", sa.String(12), nullable=False),  # the account that wrote it
    sa.Column("storage_class", sa.String(32), nullable=False, default="STANDARD"),
    sa.Column("headers", Json, nullable=True),  # Content-Type, Cache-Control, ... as stored
    sa.Column("metadata", Json, nullable=True),  # x-amz-meta-*
    sa.Column("checksum", Json, nullable=True),  # {"algorithm": "CRC32", "value": "...", "type": "FULL_OBJECT"}
    sa.Column("tags", Json, nullable=True),
    sa.Column("acl", Json, nullable=True),
    sa.Column("parts", Json, nullable=True),  # multipart objects: the part sizes, for partNumber reads
    sa.UniqueConstraint("bucket", "key", "version_id", name="uq_s3_objects_version"),
    sa.Index("ix_s3_objects_listing", "bucket", "is_latest", "key"),
)

extents = sa.Table(
    "s3_extents",
    metadata,
    sa.Column("owner_kind", sa.String(1), primary_key=True),  # 'o': an object version, 'p': an uploaded part
    sa.Column("owner_id", sa.BigInteger, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("blob", sa.String(40), nullable=False, index=True),
    sa.Column("start", sa.BigInteger, nullable=False),
    sa.Column("length", sa.BigInteger, nullable=False),
)

uploads = sa.Table(
    "s3_uploads",
    metadata,
    sa.Column("upload_id", sa.String(96), primary_key=True),
    sa.Column("bucket", sa.String(63), sa.ForeignKey("s3_buckets.name", ondelete="CASCADE"), nullable=False),
    sa.Column("key", Key, nullable=False),
    sa.Column("initiated", Micros, nullable=False),
    sa.Column("owner", sa.String(12), nullable=False),
    sa.Column("initiator_arn", sa.String(2048), nullable=False),
    sa.Column("initiator_id", sa.String(128), nullable=False),
    sa.Column("props", Json, nullable=False),  # what the object will carry: headers, metadata, ACL, tags, checksum
    sa.Index("ix_s3_uploads_listing", "bucket", "key", "initiated"),
)

parts = sa.Table(
    "s3_parts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("upload_id", sa.String(96), sa.ForeignKey("s3_uploads.upload_id", ondelete="CASCADE"), nullable=False),
    sa.Column("part_number", sa.Integer, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("modified", Micros, nullable=False),
    sa.Column("checksum", Json, nullable=True),
    sa.UniqueConstraint("upload_id", "part_number", name="uq_s3_parts_number"),
)

ALL_TABLES = (buckets, objects, extents, uploads, parts)

register_migrations("s3", [create_tables(*ALL_TABLES)])
