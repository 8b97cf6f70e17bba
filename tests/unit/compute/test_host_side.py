"""The pieces that touch the host: the image cache, overlays, the nftables ruleset, node URIs."""

from __future__ import annotations

import subprocess

import pytest

from silvereye.compute import ImageCache, ImageError
from silvereye.compute.disks import create_overlay, overlay_backing
from silvereye.compute.hostfiles import LocalHost, SshHost, host_for_uri
from silvereye.compute.metadata_nat import MetadataRedirect, table_name_for
from silvereye.compute.errors import ComputeError, NetworkError


def qemu_img(*args):
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def test_images_are_cached_once_by_content(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    qemu_img("create", "-f", "qcow2", str(tmp_path / "a.qcow2"), "32M")
    first = cache.add(tmp_path / "a.qcow2")
    again = cache.add(tmp_path / "a.qcow2", "qcow2")
    assert first == again and first.path.name == f"{first.sha256}.qcow2"
    assert first.virtual_size == 32 << 20 and first.format == "qcow2"
    assert [i.sha256 for i in cache.list()] == [first.sha256]
    assert cache.get(first.sha256, "qcow2") == first


def test_raw_and_vmdk_images_are_imported_and_vmdk_becomes_qcow2(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    (tmp_path / "disk.raw").write_bytes(b"\0" * (1 << 20))
    raw = cache.add(tmp_path / "disk.raw", "raw")
    assert raw.format == "raw" and raw.virtual_size == 1 << 20
    qemu_img("create", "-f", "vmdk", str(tmp_path / "d.vmdk"), "16M")
    converted = cache.add(tmp_path / "d.vmdk")
    assert converted.format == "qcow2" and converted.virtual_size == 16 << 20


def test_an_image_with_a_backing_file_is_refused(tmp_path):
    """A crafted qcow2 pointing at a host file must never become a base image."""
    (tmp_path / "secret").write_bytes(b"x" * 4096)
    qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", str(tmp_path / "secret"), str(tmp_path / "evil.qcow2"))
    with pytest.raises(ImageError, match="backing file"):
        ImageCache(tmp_path / "cache").add(tmp_path / "evil.qcow2")


def test_bad_images_get_clear_errors(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    with pytest.raises(ImageError, match="does not exist"):
        cache.add(tmp_path / "missing.img")
    (tmp_path / "x").write_bytes(b"data")
    with pytest.raises(ImageError, match="not supported"):
        cache.add(tmp_path / "x", "iso9660")
    with pytest.raises(ImageError, match="not in the cache"):
        cache.get("0" * 64, "qcow2")
    with pytest.raises(ImageError, match="does not name"):
        cache.path_of("../../etc/passwd", "raw")


def test_overlay_is_backed_by_the_base_and_grows_on_request(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    qemu_img("create", "-f", "qcow2", str(tmp_path / "a.qcow2"), "32M")
    base = cache.add(tmp_path / "a.qcow2")
    create_overlay(LocalHost(), base, tmp_path / "o1.qcow2")
    create_overlay(LocalHost(), base, tmp_path / "o2.qcow2", 1 << 30)
    assert overlay_backing(LocalHost(), tmp_path / "o1.qcow2") == str(base.path)
    info = subprocess.run(["qemu-img", "info", str(tmp_path / "o2.qcow2")], capture_output=True, text=True).stdout
    assert "1 GiB" in info
    kernel = cache.add_blob(tmp_path / "a.qcow2")
    with pytest.raises(ImageError, match="not a disk image"):
        create_overlay(LocalHost(), kernel, tmp_path / "o3.qcow2")


def test_metadata_redirect_ruleset_replaces_only_its_own_table():
    r = MetadataRedirect(table_name_for("silvereye"), "sebr0", "172.31.0.1", 8775)
    assert r.ruleset() == (
        "add table ip silvereye\n"
        "delete table ip silvereye\n"
        "table ip silvereye {\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        '    iifname "sebr0" ip daddr 169.254.169.254 tcp dport 80 dnat to 172.31.0.1:8775\n'
        "  }\n"
        "}\n"
    )
    assert table_name_for("compute-e2e-1a2b") == "compute_e2e_1a2b"
    assert table_name_for("1net") == "n_1net"
    with pytest.raises(NetworkError):
        MetadataRedirect("bad name;", "sebr0", "172.31.0.1", 8775)
    with pytest.raises(NetworkError):
        MetadataRedirect("t", 'br0" accept', "172.31.0.1", 8775)


def test_node_uris_say_where_files_live():
    assert isinstance(host_for_uri("qemu:///system"), LocalHost)
    assert isinstance(host_for_uri("test:///default"), LocalHost)
    remote = host_for_uri("qemu+ssh://admin@node1:2222/system?keyfile=/root/.ssh/node")
    assert isinstance(remote, SshHost)
    assert (remote.user, remote.host, remote.port, remote.keyfile) == ("admin", "node1", 2222, "/root/.ssh/node")
    assert host_for_uri("qemu+ssh://node2/system").user == "root"
    with pytest.raises(ComputeError, match="qemu\\+ssh"):
        host_for_uri("qemu+tcp://node3/system")
