"""Registering images from files on this host: ``silvereye images install`` and ``silvereye install``.

Works on the host's store and object store directly (like ``silvereye
account create``), whether or not the server runs: each part goes into the
system bucket with a manifest (:mod:`.models.system_images`), into the image
cache, and is registered as an image of the ``admin`` account by default,
public and with owner alias ``amazon`` (the cloud's own images, as the
amazon-owned AMIs are on AWS), so every account can launch it and find it
with ``--owners amazon``.

Entry points (what other parts of silvereye call)::

    install_tiny(cfg, *, account="admin", public=True) -> InstalledImage
    install_catalog(cfg, name, *, from_file=None, account="admin", public=True) -> InstalledImage
    install_image(cfg, store, name, *, root, root_format=None, kernel=None, ramdisk=None,
                  kernel_cmdline=None, boot_mode="legacy-bios", description=None,
                  account="admin", public=True) -> InstalledImage

Installing is idempotent: an account already holding an available image of
that name gets it back (``created`` False) and nothing is uploaded again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from silvereye.accounts import host_store
from silvereye.compute import ComputeError, ImageCache
from silvereye.errors import SilvereyeError
from silvereye.services.ec2.models import images
from silvereye.services.ec2.models.common import new_id
from silvereye.services.ec2.models.system_images import store_image
from silvereye.services.ec2.tables import images as im
from silvereye.services.gateway.errors import ServiceError


@dataclass(frozen=True)
class InstalledImage:
    name: str
    image_id: str
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    created: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _account_id(cfg: Any, store: Any, account: str) -> str:
    from silvereye import accounts as cli_accounts
    from silvereye.services.iam import accounts

    if account == accounts.ADMIN:
        key = accounts.ensure_admin(store)
        if key is not None:
            cli_accounts.write_credentials_file(cfg, key)
    with store.read() as conn:
        return accounts.get(conn, account).id


def _existing(store: Any, account_id: str, name: str) -> Any | None:
    with store.read() as conn:
        return conn.execute(sa.select(im).where(im.c.account_id == account_id, im.c.name == name,
                                                im.c.state == "available")).first()


def _register(store: Any, cfg: Any, cache: ImageCache, account_id: str, path: Path, *, name: str, kind: str,
              fmt: str, public: bool, description: str | None, **config: Any) -> str:
    found = _existing(store, account_id, name)
    if found is not None:
        return found.id
    image_id = new_id(images.KIND_PREFIX[kind])
    stored = store_image(store, cfg, cache, Path(path), prefix=image_id, name=name, kind=kind, fmt=fmt, **config)
    with store.write() as conn:
        images.check_name(conn, account_id, name)
        images.insert(conn, account_id, images.NewImage(
            kind=kind, name=name, location=stored.location, format=stored.image.format, sha256=stored.image.sha256,
            size=stored.image.size, description=description, owner_alias=images.AMAZON_ALIAS, public=public,
            **config), image_id=image_id)
    return image_id


def install_image(cfg: Any, store: Any, name: str, *, root: Path, root_format: str | None = None,
                  kernel: Path | None = None, ramdisk: Path | None = None, kernel_cmdline: str | None = None,
                  boot_mode: str = "legacy-bios", description: str | None = None, account: str = "admin",
                  public: bool = True) -> InstalledImage:
    """Register a machine image (and its kernel and ramdisk, when given) from local files."""
    if ramdisk is not None and kernel is None:
        raise SilvereyeError("a ramdisk needs a kernel: give both, or neither for a whole-disk image")
    for part in (root, kernel, ramdisk):
        if part is not None and not Path(part).is_file():
            raise SilvereyeError(f"image file {part} does not exist")
    try:
        return _install(cfg, store, name, root, kernel, ramdisk, account, public, root_format=root_format,
                        description=description, kernel_cmdline=kernel_cmdline, boot_mode=boot_mode)
    except ServiceError as e:  # the EC2 rules' own errors (a bad name, a broken image), told in one line
        raise SilvereyeError(f"cannot install {name}: {e.message} ({e.code})") from None
    except ComputeError as e:
        raise SilvereyeError(f"cannot install {name}: {e}") from None


def _install(cfg: Any, store: Any, name: str, root: Path, kernel: Path | None, ramdisk: Path | None, account: str,
             public: bool, *, root_format: str | None, **machine: Any) -> InstalledImage:
    account_id = _account_id(cfg, store, account)
    found = _existing(store, account_id, name)
    if found is not None:
        return InstalledImage(name, found.id, found.kernel_id, found.ramdisk_id, created=False)
    cache = ImageCache(cfg.images_path)
    kernel_id = ramdisk_id = None
    if kernel is not None:
        kernel_id = _register(store, cfg, cache, account_id, kernel, name=f"{name}-kernel", kind="kernel", fmt="blob",
                              public=public, description=f"kernel of {name}")
    if ramdisk is not None:
        ramdisk_id = _register(store, cfg, cache, account_id, ramdisk, name=f"{name}-ramdisk", kind="ramdisk",
                               fmt="blob", public=public, description=f"ramdisk of {name}")
    if kernel is None:
        machine["kernel_cmdline"] = None
    image_id = _register(store, cfg, cache, account_id, root, name=name, kind="machine",
                         fmt=root_format or _probe_format(root), public=public, kernel_id=kernel_id,
                         ramdisk_id=ramdisk_id, **machine)
    return InstalledImage(name, image_id, kernel_id, ramdisk_id, created=True)


def _probe_format(path: Path) -> str:
    from silvereye.compute.disks import qemu_img_info

    return qemu_img_info(Path(path)).get("format", "raw")


def install_tiny(cfg: Any, *, account: str = "admin", public: bool = True, report: Any = None) -> InstalledImage:
    """Build (or find built) the tiny image and register it as an aki/ari/ami triple."""
    from silvereye.images import tiny

    image = tiny.build(report=report or (lambda _msg: None))
    store = host_store(cfg)
    try:
        return install_image(
            cfg, store, tiny.NAME, root=image.root, root_format="qcow2", kernel=image.kernel, ramdisk=image.ramdisk,
            kernel_cmdline=image.kernel_cmdline, account=account, public=public,
            description=f"silvereye tiny image (Linux {image.manifest.get('kernel_release', '')}, busybox, dropbear)")
    finally:
        store.close()


def install_catalog(cfg: Any, name: str, *, from_file: Path | None = None, account: str = "admin",
                    public: bool = True, cache_dir: Path | None = None) -> InstalledImage:
    """Download (or take ``from_file``), verify and register a catalog image."""
    from silvereye.images import catalog, fetch

    if name == "tiny":
        return install_tiny(cfg, account=account, public=public)
    entry = catalog.find(name)
    directory = Path(cache_dir) if cache_dir else Path(cfg.data_dir) / "downloads"
    directory.mkdir(parents=True, exist_ok=True)
    fetched = fetch.from_file(entry, Path(from_file)) if from_file else fetch.download(entry, directory)
    store = host_store(cfg)
    try:
        return install_image(
            cfg, store, entry.name, root=fetched.path, root_format=entry.format,
            boot_mode="uefi" if entry.firmware == "uefi" else "legacy-bios", account=account, public=public,
            description=entry.description + ("" if fetched.verified else " (checksum not verified)"))
    finally:
        store.close()
