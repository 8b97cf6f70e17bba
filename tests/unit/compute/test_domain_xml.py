"""Domain and network documents: golden files, round trips, and libvirt accepting them.

Set SILVEREYE_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import libvirt
import pytest

from silvereye.compute import instance_types
from silvereye.compute.domain_xml import Domain, DomainSpec, UefiFirmware, build_domain, read_metadata
from silvereye.compute.errors import InvalidArgument
from silvereye.compute.network_xml import DhcpHost, Network, build_network

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> Path:
    return GOLDEN / name

IID = "i-0123456789abcdef0"
DIR = Path("/var/lib/silvereye/instances") / IID


def spec(**kw) -> DomainSpec:
    values = dict(
        instance_id=IID,
        owner="123456789012",
        instance_type=instance_types.get("t2.micro"),
        domain_type="qemu",
        network="silvereye",
        mac="d0:0d:12:34:56:78",
        private_ip="172.31.0.4",
        console_log=DIR / "console.log",
        image_id="ami-0a1b2c3d",
        launched_at="2025-01-02T03:04:05Z",
    )
    values.update(kw)
    return DomainSpec(**values)


CASES = {
    "domain-kernel-ramdisk.xml": dict(
        kernel=Path("/var/lib/silvereye/images/aa.blob"),
        ramdisk=Path("/var/lib/silvereye/images/bb.blob"),
        root_disk=DIR / "root.qcow2",
    ),
    "domain-bios-disk.xml": dict(root_disk=DIR / "root.qcow2", domain_type="kvm",
                                 instance_type=instance_types.get("m1.small")),
    "domain-uefi-disk.xml": dict(
        root_disk=DIR / "root.qcow2",
        firmware="uefi",
        uefi=UefiFirmware(Path("/usr/share/OVMF/OVMF_CODE_4M.fd"), Path("/usr/share/OVMF/OVMF_VARS_4M.fd")),
        uefi_vars=DIR / "uefi-vars.fd",
    ),
}


def check_golden(name: str, text: str) -> None:
    path = golden(name)
    if os.environ.get("SILVEREYE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_domain_matches_golden_file(name):
    check_golden(name, build_domain(spec(**CASES[name])).to_xml())


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_domain_parses_back_to_the_same_document(name):
    text = golden(name).read_text()
    assert Domain.from_xml(text).to_xml() == text


def test_network_matches_golden_file():
    net = build_network("silvereye", "sebr0", ipaddress.IPv4Network("172.31.0.0/20"), "silvereye.internal")
    net.ipv4().dhcp.hosts.append(DhcpHost(mac="d0:0d:12:34:56:78", name=IID, ip="172.31.0.4"))
    check_golden("network.xml", net.to_xml())
    assert [h.ip for h in Network.from_xml(net.to_xml()).dhcp_hosts()] == ["172.31.0.3", "172.31.0.4"]


def test_metadata_names_the_instance_and_survives_libvirt():
    conn = libvirt.open("test:///default")
    dom = conn.defineXML(build_domain(spec(**CASES["domain-kernel-ramdisk.xml"])).to_xml())
    try:
        meta = read_metadata(dom.XMLDesc(0))
        assert (meta.instance_id, meta.owner, meta.mac, meta.private_ip) == (IID, "123456789012", "d0:0d:12:34:56:78", "172.31.0.4")
        assert dom.name() == "silvereye-" + IID
    finally:
        dom.undefine()


@pytest.mark.parametrize("name", sorted(CASES))
def test_libvirt_defines_starts_destroys_and_undefines_it(name):
    conn = libvirt.open("test:///default")
    dom = conn.defineXML(build_domain(spec(**CASES[name])).to_xml())
    try:
        dom.create()
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        dom.destroy()
        assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    finally:
        dom.undefine()
    assert "silvereye-" + IID not in [d.name() for d in conn.listAllDomains()]


def test_values_are_escaped_not_formatted_into_xml():
    s = spec(kernel=Path("/k"), kernel_cmdline="console=ttyS0 x='\"<evil/>&")
    text = build_domain(s).to_xml()
    assert "<evil/>" not in text
    assert Domain.from_xml(text).os.cmdline == "console=ttyS0 x='\"<evil/>&"


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(instance_id="i-../../etc"), "not an instance id"),
        (dict(owner="root"), "not an account id"),
        (dict(mac="d0:0d:zz:00:00:00"), "not a MAC"),
        (dict(domain_type="xen"), "domain type"),
        (dict(), "needs a kernel"),
        (dict(root_disk=Path("/r"), firmware="uefi"), "OVMF"),
        (dict(ramdisk=Path("/r"), root_disk=Path("/d")), "ramdisk needs a kernel"),
        (dict(kernel=Path("/k"), kernel_cmdline="a\nb"), "control characters"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(bad, message):
    with pytest.raises(InvalidArgument, match=message):
        build_domain(spec(**bad))
