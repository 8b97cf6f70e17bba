"""Images the cloud itself writes to S3: CreateImage's flattened disks and installed catalog images.

They go to the system bucket ``silvereye-system-images`` (owned by the cloud,
listed to nobody), each as one part and a manifest of the same form users
upload (:mod:`.bundles`), under ``<prefix>/``. The image cache gets its copy
first; the S3 object is the durable one the cache can be refilled from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from silvereye.compute import CachedImage, ImageCache
from silvereye.services.ec2.models.bundles import Manifest, Part

SYSTEM_BUCKET = "silvereye-system-images"


@dataclass(frozen=True)
class Stored:
    location: str  # bucket/key of the manifest
    image: CachedImage


def store_image(store: Any, cfg: Any, cache: ImageCache, path: Path, *, prefix: str, name: str, kind: str,
                fmt: str, architecture: str = "x86_64", kernel_id: str | None = None, ramdisk_id: str | None = None,
                kernel_cmdline: str | None = None, boot_mode: str | None = None, move: bool = False) -> Stored:
    """Put a local image file into the cache and the system bucket; ``move`` hands the file over."""
    from silvereye.services.s3 import internal

    image = cache.add_blob(path) if fmt == "blob" else cache.add(path, fmt)
    if image.format != fmt:  # converted at import (vmdk, vdi...): store what the cache holds
        path, move = image.path, False
    part_name = f"{name}.part.0"
    manifest = Manifest(kind=kind, name=name, format=image.format, size=image.size, sha256=image.sha256,
                        parts=(Part(part_name, image.sha256),), architecture=architecture, kernel_id=kernel_id,
                        ramdisk_id=ramdisk_id, kernel_cmdline=kernel_cmdline, boot_mode=boot_mode)
    internal.ensure_system_bucket(store, cfg, SYSTEM_BUCKET)
    internal.put_file(store, cfg, SYSTEM_BUCKET, f"{prefix}/{part_name}", os.fspath(path),
                      content_type="application/octet-stream", move=move)
    manifest_key = f"{prefix}/{name}.manifest.xml"
    internal.put_chunks(store, cfg, SYSTEM_BUCKET, manifest_key, [manifest.to_xml()], content_type="application/xml")
    return Stored(f"{SYSTEM_BUCKET}/{manifest_key}", image)
