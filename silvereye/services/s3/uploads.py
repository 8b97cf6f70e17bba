"""Multipart uploads in the store: the upload, its parts, and turning them into an object.

A part's bytes are extents like an object's (owner kind ``p``); completing
an upload gives the chosen parts' extents to the new object version, in
order, and drops the rest -- so completion copies nothing, whatever the
size, and parts that were uploaded but not listed are freed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from silvereye.services.s3 import catalog, errors, names
from silvereye.services.s3.catalog import PART, Extent
from silvereye.services.s3.tables import parts, uploads

MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10000


@dataclass
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: int
    owner: str
    initiator_arn: str
    initiator_id: str
    props: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> "Upload":
        return cls(row.upload_id, row.bucket, names.key_text(row.key), row.initiated, row.owner, row.initiator_arn,
                   row.initiator_id, catalog.loads(row.props, {}))

    @property
    def algorithm(self) -> str | None:
        return self.props.get("checksum_algorithm")


@dataclass
class Part:
    id: int
    number: int
    size: int
    etag: str
    modified: int
    checksum: dict[str, str] | None

    @classmethod
    def from_row(cls, row: Any) -> "Part":
        return cls(row.id, row.part_number, row.size, row.etag, row.modified, catalog.loads(row.checksum))


def check_part_number(number: int) -> None:
    if not 1 <= number <= MAX_PARTS:
        raise errors.invalid_argument("Part number must be an integer between 1 and 10000, inclusive",
                                      "partNumber", number)


def create(conn: sa.Connection, bucket: str, key: bytes, owner: str, initiator_arn: str, initiator_id: str,
           props: dict[str, Any]) -> str:
    upload_id = names.new_upload_id()
    conn.execute(sa.insert(uploads).values(upload_id=upload_id, bucket=bucket, key=key, initiated=catalog.now_us(),
                                           owner=owner, initiator_arn=initiator_arn, initiator_id=initiator_id,
                                           props=catalog.dumps(props)))
    return upload_id


def get(conn: sa.Connection, bucket: str, key: str, upload_id: str) -> Upload:
    """The upload (NoSuchUpload when it is not one of this bucket and key)."""
    bad = names.check_upload_id(upload_id)
    if bad is not None:
        raise bad
    row = conn.execute(sa.select(uploads).where(uploads.c.upload_id == upload_id)).first()
    if row is None or row.bucket != bucket or names.key_text(row.key) != key:
        raise errors.no_such_upload(upload_id)
    return Upload.from_row(row)


def find_row(conn: sa.Connection, upload_id: str) -> Any:
    return conn.execute(sa.select(uploads).where(uploads.c.upload_id == upload_id)).first()


def all_parts(conn: sa.Connection, upload_id: str, after: int = 0, limit: int | None = None) -> list[Part]:
    query = sa.select(parts).where(parts.c.upload_id == upload_id, parts.c.part_number > after).order_by(parts.c.part_number)
    if limit is not None:
        query = query.limit(limit)
    return [Part.from_row(r) for r in conn.execute(query)]


def put_part(conn: sa.Connection, upload_id: str, number: int, size: int, etag: str, checksum: dict[str, str] | None,
             items: list[Extent]) -> tuple[Part, list[str]]:
    """Record a part (replacing an earlier upload of the same number); returns it and the blobs to free."""
    old = conn.execute(sa.select(parts.c.id).where(parts.c.upload_id == upload_id, parts.c.part_number == number)).scalar()
    freed: set[str] = set()
    if old is not None:
        freed = catalog.drop_extents(conn, PART, [old])
        conn.execute(sa.delete(parts).where(parts.c.id == old))
    result = conn.execute(sa.insert(parts).values(upload_id=upload_id, part_number=number, size=size, etag=etag,
                                                  modified=catalog.now_us(), checksum=catalog.dumps(checksum)))
    part_id = int(result.inserted_primary_key[0])
    catalog.add_extents(conn, PART, part_id, items)
    part = Part.from_row(conn.execute(sa.select(parts).where(parts.c.id == part_id)).one())
    return part, catalog.unreferenced(conn, freed)


def drop(conn: sa.Connection, upload_id: str) -> set[str]:
    """Remove the upload and its parts; returns the blobs the parts referred to (check before freeing)."""
    part_ids = list(conn.execute(sa.select(parts.c.id).where(parts.c.upload_id == upload_id)).scalars())
    blobs = catalog.drop_extents(conn, PART, part_ids)
    conn.execute(sa.delete(parts).where(parts.c.upload_id == upload_id))
    conn.execute(sa.delete(uploads).where(uploads.c.upload_id == upload_id))
    return blobs


def abort(conn: sa.Connection, upload_id: str) -> list[str]:
    """AbortMultipartUpload: the upload is gone; returns the blobs to free after commit."""
    return catalog.unreferenced(conn, drop(conn, upload_id))


def extents_in_order(conn: sa.Connection, chosen: list[Part]) -> list[Extent]:
    out: list[Extent] = []
    for part in chosen:
        out += catalog.extents_of(conn, PART, part.id)
    return out


def check_completion(upload: Upload, requested: list[dict[str, Any]], have: dict[int, Part]) -> list[Part]:
    """The parts a CompleteMultipartUpload names, checked by S3's rules; returns them in order."""
    if not requested:
        raise errors.malformed_xml()
    chosen: list[Part] = []
    previous = 0
    for item in requested:
        number = item.get("PartNumber")
        if number is None:
            raise errors.malformed_xml()
        if number <= previous:
            raise errors.s3("InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be "
                            "specified in order by part number.", 400, UploadId=upload.upload_id)
        previous = number
        part = have.get(number)
        etag = (item.get("ETag") or "").strip().strip('"')
        if part is None or etag != part.etag:
            raise errors.s3("InvalidPart", "One or more of the specified parts could not be found. The part may not "
                            "have been uploaded, or the specified entity tag may not have matched the part's entity "
                            "tag.", 400, UploadId=upload.upload_id, PartNumber=str(number), ETag=item.get("ETag"))
        if upload.algorithm:
            sent = item.get(f"Checksum{upload.algorithm}")
            if sent is None:
                raise errors.invalid_request(
                    f"The upload was created using a {upload.algorithm.lower()} checksum. The complete request must "
                    f"include the checksum for each part. It was missing for part {number} in the request.")
            if part.checksum is None or sent != part.checksum.get("value"):
                raise errors.s3("InvalidPart", "One or more of the specified parts could not be found. The part may "
                                "not have been uploaded, or the specified entity tag may not have matched the part's "
                                "entity tag.", 400, UploadId=upload.upload_id, PartNumber=str(number), ETag=item.get("ETag"))
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART:
            raise errors.s3("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", 400,
                            ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART), PartNumber=str(part.number),
                            ETag=f'"{part.etag}"')
    return chosen


def in_bucket(conn: sa.Connection, bucket: str, prefix: bytes, after: tuple[bytes, int, str] | None,
              limit: int) -> list[Any]:
    """Upload rows of a bucket in (key, initiated, id) order, after a cursor (ListMultipartUploads)."""
    query = sa.select(uploads).where(uploads.c.bucket == bucket)
    if prefix:
        query = query.where(uploads.c.key >= prefix)
    if after is not None:
        key, initiated, upload_id = after
        if initiated < 0:
            query = query.where(uploads.c.key > key)
        else:
            query = query.where(sa.or_(
                uploads.c.key > key,
                sa.and_(uploads.c.key == key, uploads.c.initiated > initiated),
                sa.and_(uploads.c.key == key, uploads.c.initiated == initiated, uploads.c.upload_id > upload_id),
            ))
    order = (uploads.c.key, uploads.c.initiated, uploads.c.upload_id)
    return conn.execute(query.order_by(*order).limit(limit)).all()
