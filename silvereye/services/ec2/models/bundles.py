"""How an image lives in S3, and how its bytes get into the image cache.

RegisterImage takes an ``ImageLocation`` of ``bucket/key``. Two forms:

1. **A manifest** (a key ending in ``.xml``): Eucalyptus' bundle layout
   without the encryption, so a kernel, a ramdisk or a disk image can be
   uploaded in parts (``s3 cp`` of each) and described in one document::

       <manifest>
         <version>silvereye-1</version>
         <image>
           <name>tiny</name>
           <type>machine</type>            machine | kernel | ramdisk
           <format>qcow2</format>          qcow2 | raw (machine); blob (kernel, ramdisk)
           <size>67108864</size>           bytes of the whole image
           <digest algorithm="SHA256">hex of the whole image</digest>
           <parts count="1">
             <part index="0">
               <filename>tiny.part.0</filename>     a key beside the manifest
               <digest algorithm="SHA256">hex of this part</digest>
             </part>
           </parts>
         </image>
         <machine_configuration>            optional, machine images only
           <architecture>x86_64</architecture>
           <kernel_id>aki-...</kernel_id>
           <ramdisk_id>ari-...</ramdisk_id>
           <kernel_cmdline>console=ttyS0 root=/dev/vda</kernel_cmdline>
           <boot_mode>legacy-bios</boot_mode>  legacy-bios | uefi
         </machine_configuration>
       </manifest>

   The image is its parts concatenated in index order; every digest is
   checked. Part file names are plain names (no ``/``), so a manifest can
   only point at objects next to itself. Encrypted euca2ools bundles
   (``<ec2_encrypted_key>``) are refused with a message saying so.

2. **A disk image object** (any other key): a qcow2, raw, vmdk, vdi, vhdx or
   vpc disk, its format found by ``qemu-img`` (safely: images that point at
   backing files are refused). It registers as a machine image.

Either way the bytes are copied once into the content-addressed image cache
(``<sha256>.<format>``), where instances' overlays find them; the S3 object
stays the durable copy the cache can be refilled from.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from silvereye.compute import CachedImage, ImageCache, ImageError
from silvereye.services.ec2 import errors
from silvereye.services.gateway.errors import ServiceError
from silvereye.services.gateway.protocols.xmlcodec import parse_xml

VERSION = "silvereye-1"
KINDS = ("machine", "kernel", "ramdisk")
FORMATS = {"machine": ("qcow2", "raw"), "kernel": ("blob",), "ramdisk": ("blob",)}
MANIFEST_MAX = 1 << 20
_PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,254}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Part:
    filename: str
    sha256: str


@dataclass(frozen=True)
class Manifest:
    kind: str
    name: str
    format: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    architecture: str = "x86_64"
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    kernel_cmdline: str | None = None
    boot_mode: str | None = None

    def to_xml(self) -> bytes:
        root = ET.Element("manifest")
        ET.SubElement(root, "version").text = VERSION
        image = ET.SubElement(root, "image")
        for tag, value in (("name", self.name), ("type", self.kind), ("format", self.format), ("size", str(self.size))):
            ET.SubElement(image, tag).text = value
        ET.SubElement(image, "digest", algorithm="SHA256").text = self.sha256
        parts = ET.SubElement(image, "parts", count=str(len(self.parts)))
        for i, part in enumerate(self.parts):
            element = ET.SubElement(parts, "part", index=str(i))
            ET.SubElement(element, "filename").text = part.filename
            ET.SubElement(element, "digest", algorithm="SHA256").text = part.sha256
        config = ET.SubElement(root, "machine_configuration")
        ET.SubElement(config, "architecture").text = self.architecture
        for tag, value in (("kernel_id", self.kernel_id), ("ramdisk_id", self.ramdisk_id),
                           ("kernel_cmdline", self.kernel_cmdline), ("boot_mode", self.boot_mode)):
            if value:
                ET.SubElement(config, tag).text = value
        ET.indent(root)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def split_location(location: str) -> tuple[str, str]:
    """'bucket/path/to/key' -> (bucket, key); a leading '/' is allowed (euca2ools writes one)."""
    text = (location or "").lstrip("/")
    bucket, _, key = text.partition("/")
    if not bucket or not key:
        raise errors.invalid_value(location, "ImageLocation", "Expected bucket/key of a manifest or disk image.")
    return bucket, key


def is_manifest(key: str) -> bool:
    return key.lower().endswith(".xml")


def _text(element: ET.Element | None, tag: str, required: bool = True) -> str | None:
    found = element.find(tag) if element is not None else None
    value = (found.text or "").strip() if found is not None else ""
    if not value and required:
        raise errors.invalid_manifest(f"The manifest has no <{tag}>")
    return value or None


def _digest(element: ET.Element | None, where: str) -> str:
    found = element.find("digest") if element is not None else None
    algorithm = (found.get("algorithm") or "").upper() if found is not None else ""
    value = (found.text or "").strip().lower() if found is not None else ""
    if algorithm != "SHA256" or not _HEX64.fullmatch(value):
        raise errors.invalid_manifest(f"The manifest's {where} needs a <digest algorithm=\"SHA256\"> of 64 hex digits")
    return value


def parse_manifest(data: bytes) -> Manifest:
    try:
        root = parse_xml(data)
    except ValueError as e:
        raise errors.invalid_manifest(f"The manifest is not readable XML ({e})") from None
    image = root.find("image")
    if root.tag != "manifest" or image is None:
        raise errors.invalid_manifest("The manifest must be a <manifest> holding an <image>")
    if image.find("ec2_encrypted_key") is not None or image.find("user_encrypted_key") is not None:
        raise errors.invalid_manifest(
            "Encrypted bundles (euca-bundle-image) are not supported; upload the image unencrypted with a "
            "silvereye manifest, or the disk image itself")
    kind = _text(image, "type")
    if kind not in KINDS:
        raise errors.invalid_manifest(f"Image type {kind!r} is not machine, kernel or ramdisk")
    fmt = _text(image, "format", required=False) or ("blob" if kind != "machine" else "raw")
    if fmt not in FORMATS[kind]:
        raise errors.invalid_manifest(f"A {kind} image's format is {' or '.join(FORMATS[kind])}, not {fmt!r}")
    try:
        size = int(_text(image, "size") or "")
    except ValueError:
        raise errors.invalid_manifest("The manifest's <size> is not a number") from None
    parts_element = image.find("parts")
    parts = []
    for i, element in enumerate(parts_element.findall("part") if parts_element is not None else []):
        if element.get("index") not in (None, str(i)):
            raise errors.invalid_manifest("Parts must be listed in index order from 0")
        filename = _text(element, "filename") or ""
        if not _PART_NAME.fullmatch(filename) or ".." in filename:
            raise errors.invalid_manifest(f"Part file name {filename!r} must be a plain name of the manifest's folder")
        parts.append(Part(filename, _digest(element, f"part {i}")))
    if not parts:
        raise errors.invalid_manifest("The manifest lists no parts")
    config = root.find("machine_configuration")
    boot_mode = _text(config, "boot_mode", required=False)
    if boot_mode not in (None, "legacy-bios", "uefi"):
        raise errors.invalid_manifest(f"Boot mode {boot_mode!r} is not legacy-bios or uefi")
    return Manifest(
        kind=kind, name=_text(image, "name") or "", format=fmt, size=size, sha256=_digest(image, "image"),
        parts=tuple(parts), architecture=_text(config, "architecture", required=False) or "x86_64",
        kernel_id=_text(config, "kernel_id", required=False), ramdisk_id=_text(config, "ramdisk_id", required=False),
        kernel_cmdline=_text(config, "kernel_cmdline", required=False), boot_mode=boot_mode,
    )


# -- reading from S3 -------------------------------------------------------------------


@dataclass
class Fetched:
    image: CachedImage
    manifest: Manifest | None = None  # None for a disk image object
    location: str = ""


def _readable(store: Any, principal: Any, bucket: str, key: str) -> None:
    from silvereye.services.s3 import internal

    if principal is not None and not internal.can_read(store, principal, bucket, key):
        raise errors.invalid_manifest(
            f"The image at {bucket}/{key} does not exist or you are not allowed to read it")


def _open(store: Any, cfg: Any, bucket: str, key: str):  # noqa: ANN202 - an s3.internal.ObjectReader
    from silvereye.services.s3 import internal

    try:
        return internal.open_object(store, cfg, bucket, key)
    except ServiceError:
        raise errors.invalid_manifest(f"The image at {bucket}/{key} does not exist or you are not allowed to read it") from None


def read_manifest(store: Any, cfg: Any, bucket: str, key: str, principal: Any = None) -> Manifest:
    _readable(store, principal, bucket, key)
    with _open(store, cfg, bucket, key) as reader:
        if reader.size > MANIFEST_MAX:
            raise errors.invalid_manifest(f"The manifest is larger than {MANIFEST_MAX} bytes")
        data = b"".join(reader.iter_chunks())
    return parse_manifest(data)


def fetch(store: Any, cfg: Any, cache: ImageCache, location: str, principal: Any = None) -> Fetched:
    """Read the image at ``location`` from S3 into the cache (checking every digest); blocking."""
    bucket, key = split_location(location)
    if is_manifest(key):
        manifest = read_manifest(store, cfg, bucket, key, principal)
        return Fetched(_fetch_parts(store, cfg, cache, bucket, key, manifest, principal), manifest, f"{bucket}/{key}")
    _readable(store, principal, bucket, key)
    with _open(store, cfg, bucket, key) as reader:
        try:
            image = cache.add(Path(reader.path))
        except ImageError as e:
            raise errors.invalid_manifest(f"The object {bucket}/{key} is not a disk image silvereye can boot: {e}") from None
    return Fetched(image, None, f"{bucket}/{key}")


def _fetch_parts(store: Any, cfg: Any, cache: ImageCache, bucket: str, manifest_key: str, manifest: Manifest,
                 principal: Any) -> CachedImage:
    folder = manifest_key.rsplit("/", 1)[0] + "/" if "/" in manifest_key else ""
    cache.root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache.root, prefix=".bundle-")
    whole = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for i, part in enumerate(manifest.parts):
                key = folder + part.filename
                _readable(store, principal, bucket, key)
                digest = hashlib.sha256()
                with _open(store, cfg, bucket, key) as reader:
                    for chunk in reader.iter_chunks():
                        digest.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                if digest.hexdigest() != part.sha256:
                    raise errors.invalid_manifest(f"Part {i} ({bucket}/{key}) does not match its digest in the manifest")
        if size != manifest.size or whole.hexdigest() != manifest.sha256:
            raise errors.invalid_manifest("The image assembled from its parts does not match the manifest's size and digest")
        try:
            if manifest.format == "blob":
                return cache.add_blob(Path(tmp))
            return cache.add(Path(tmp), manifest.format)
        except ImageError as e:
            raise errors.invalid_manifest(f"The image is not a {manifest.format} disk silvereye can boot: {e}") from None
    finally:
        os.unlink(tmp)


def cached_or_fetch(store: Any, cfg: Any, cache: ImageCache, row: Any) -> CachedImage:
    """The cached file of an image row, fetched again from S3 when the cache lost it."""
    try:
        return cache.get(row.sha256, row.format)
    except ImageError:
        pass
    fetched = fetch(store, cfg, cache, row.location)
    if fetched.image.sha256 != row.sha256:
        raise ImageError(f"the S3 object of image {row.id} at {row.location} changed since it was registered; "
                         "register it again")
    return fetched.image
