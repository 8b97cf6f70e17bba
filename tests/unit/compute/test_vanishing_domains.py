"""A domain undefined between a listing and the next call is gone, not an error of the listing."""

import libvirt
import pytest

from silvereye.compute.errors import libvirt_call
from silvereye.compute.nodes import surviving

XML = "<domain type='test'><name>{}</name><memory>1024</memory><os><type>hvm</type></os></domain>"


@pytest.fixture
def conn():
    c = libvirt.open("test:///default")
    yield c
    c.close()


def read(dom):
    with libvirt_call(f"read domain {dom.name()}"):
        return dom.name(), dom.info()


def test_a_domain_that_vanished_mid_listing_is_skipped(conn):
    conn.defineXML(XML.format("stays"))
    gone = conn.defineXML(XML.format("vanishes"))
    listing = conn.listAllDomains(0)
    gone.undefine()
    names = [name for name, _ in surviving(listing, read)]
    assert "stays" in names and "vanishes" not in names


def test_other_errors_still_raise(conn):
    dom = conn.defineXML(XML.format("broken"))

    def fails(_dom):
        with libvirt_call("read"):
            raise libvirt.libvirtError("boom")

    with pytest.raises(Exception):
        surviving([dom], fails)
    dom.undefine()
