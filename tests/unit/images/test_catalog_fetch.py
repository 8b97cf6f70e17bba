"""Catalog downloads against a local HTTP server: verified, corrupt, unreachable, from a file."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import socket
import threading

import pytest
from rich.console import Console

from silvereye.images import catalog, fetch
from silvereye.images.catalog import CatalogEntry
from silvereye.images.fetch import CatalogError

IMAGE = b"QFI\xfb" + bytes(range(256)) * 4096  # about 1 MiB of "image"
SHA256 = hashlib.sha256(IMAGE).hexdigest()
SHA512 = hashlib.sha512(IMAGE).hexdigest()


@pytest.fixture
def server(tmp_path_factory):
    """A plain static HTTP server (the standard library's) over a directory of image files."""
    root = tmp_path_factory.mktemp("www")
    (root / "img").mkdir()
    files = {
        "disk.qcow2": IMAGE,
        "SHA256SUMS": f"{'0' * 64}  other.img\n{SHA256} *disk.qcow2\n".encode(),
        "SHA512SUMS": f"{SHA512}  disk.qcow2\n".encode(),
        "disk.qcow2.CHECKSUM": f"# Rocky style\nSHA256 (disk.qcow2) = {SHA256}\n".encode(),
        "BADSUMS": f"{'f' * 64}  disk.qcow2\n".encode(),
    }
    for name, body in files.items():
        (root / "img" / name).write_bytes(body)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=str(root), **kw)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/img"
    httpd.shutdown()
    httpd.server_close()


def entry(base: str, **kw) -> CatalogEntry:
    values = dict(name="test-image", description="test", url=f"{base}/disk.qcow2", format="qcow2",
                  checksum_url=f"{base}/SHA256SUMS")
    values.update(kw)
    return CatalogEntry(**values)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_verifies_against_the_checksum_file_and_shows_progress(server, tmp_path):
    shown = io.StringIO()
    got = fetch.download(entry(server), tmp_path, console=Console(file=shown, width=100, force_terminal=False))
    assert got.verified and got.downloaded and got.digest == SHA256
    assert got.path.read_bytes() == IMAGE
    assert "test-image" in shown.getvalue() and "MB" in shown.getvalue()
    again = fetch.download(entry(server), tmp_path, show_progress=False)
    assert again.verified and not again.downloaded


@pytest.mark.parametrize("sums, algorithm", [("SHA512SUMS", "sha512"), ("disk.qcow2.CHECKSUM", "sha256")])
def test_sha512_and_bsd_style_checksum_files(server, tmp_path, sums, algorithm):
    got = fetch.download(entry(server, checksum_url=f"{server}/{sums}", algorithm=algorithm), tmp_path,
                         show_progress=False)
    assert got.verified and got.digest == hashlib.new(algorithm, IMAGE).hexdigest()


def test_a_pinned_checksum_needs_no_checksum_file(server, tmp_path):
    got = fetch.download(entry(server, checksum=SHA256, checksum_url=""), tmp_path, show_progress=False)
    assert got.verified


def test_bad_checksum_is_one_line_and_leaves_no_file(server, tmp_path):
    with pytest.raises(CatalogError) as e:
        fetch.download(entry(server, checksum_url=f"{server}/BADSUMS"), tmp_path, show_progress=False)
    message = str(e.value)
    assert "\n" not in message and "does not match its sha256 checksum" in message and "test-image" in message
    assert list(tmp_path.iterdir()) == []


def test_unreachable_url_is_one_line(server, tmp_path):
    dead = f"http://127.0.0.1:{closed_port()}/img"
    with pytest.raises(CatalogError) as e:
        fetch.download(entry(dead), tmp_path, show_progress=False)
    assert "\n" not in str(e.value) and "cannot read its checksum file" in str(e.value)
    assert "--from-file" in str(e.value)
    with pytest.raises(CatalogError, match="cannot download .*HTTP 404"):
        fetch.download(entry(server, url=f"{server}/missing.qcow2", checksum=SHA256, checksum_url=""), tmp_path,
                       show_progress=False)
    with pytest.raises(CatalogError, match="does not list disk.qcow2"):
        fetch.download(entry(server, checksum_url=f"{server}/SHA512SUMS"), tmp_path, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_from_file_verifies_when_it_can_and_says_when_it_cannot(server, tmp_path):
    local = tmp_path / "mine.qcow2"
    local.write_bytes(IMAGE)
    assert fetch.from_file(entry(server), local).verified
    dead = f"http://127.0.0.1:{closed_port()}/img"
    offline = fetch.from_file(entry(dead), local)
    assert not offline.verified and offline.digest == SHA256
    copied = fetch.from_file(entry(server), local, tmp_path / "store")
    assert copied.path == tmp_path / "store" / "disk.qcow2" and copied.path.read_bytes() == IMAGE
    local.write_bytes(IMAGE + b"tampered")
    with pytest.raises(CatalogError, match="does not match"):
        fetch.from_file(entry(server), local)
    with pytest.raises(CatalogError, match="is not a file"):
        fetch.from_file(entry(server), tmp_path / "nope")


def test_the_catalog_has_the_promised_distributions():
    names = [e.name for e in catalog.entries()]
    for family in ("debian", "ubuntu", "rocky", "cirros"):
        assert any(n.startswith(family) for n in names)
    for e in catalog.entries():
        assert e.url.startswith("https://") and e.format in ("qcow2", "raw")
        assert e.checksum or e.checksum_url.startswith("https://")
    assert catalog.find("cirros-0.6.2").login_user == "cirros"
    with pytest.raises(Exception, match="no image called 'plan9'"):
        catalog.find("plan9")
    with pytest.raises(ValueError):
        dataclasses.replace(catalog.find("debian-12"), checksum="", checksum_url="")
