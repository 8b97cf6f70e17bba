"""The answers file as a user writes it: good files load, bad ones fail in one line naming the field."""

from pathlib import Path

import pytest

from silvereye.laydown import answers as A

FIXTURES = Path(__file__).parents[2] / "fixtures" / "answers"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkcZG8pqF6pk3FIepbGIqdeyBhx1vSTl3CoYh0MPUG9 admin@laptop"
HASH = "$6$silvereyesalt0$lJhnIeZgOeP/uKmw9c3UOodNiaZprLJ3XnBxeoAlDBj9Yqa.m6Aen7X0dj2RRilyNcFEZdEWNxCFcP.Bvf3Bd/"
STATIC = {"address": "192.168.1.10/24", "gateway": "192.168.1.1"}


@pytest.mark.parametrize("name", ["static", "dhcp", "node"])
def test_fixtures_load_and_round_trip(name):
    a = A.load(FIXTURES / f"{name}.yaml")
    again = A.parse(a.to_dict(), source="round-trip")
    assert again == a


def test_static_fixture_values():
    a = A.load(FIXTURES / "static.yaml")
    assert a.role == "ciab" and a.install_flag == "--cloud-in-a-box"
    assert str(a.network.address) == "192.168.10.10/24"
    assert str(a.network.subnet) == "192.168.10.0/24"
    assert len(a.public_addresses) == 21
    assert a.config_settings() == {
        "dns_domain": "cloud.example.com",
        "network": {"interface": "eth0", "public_range": "192.168.10.200-192.168.10.220", "ntp_server": "ntp.example.com"},
    }


def test_missing_keys_take_defaults():
    a = A.parse({"ssh_keys": [KEY]})
    assert (a.role, a.hostname, a.timezone, a.network.mode) == ("ciab", "silvereye.localdomain", "UTC", "dhcp")
    host = A.parse({}, defaults={"hostname": "box.lan", "timezone": "Europe/Paris"})
    assert (host.hostname, host.timezone) == ("box.lan", "Europe/Paris")


def test_mode_follows_the_address_when_left_out():
    assert A.parse({"network": STATIC}).network.mode == "static"
    assert A.parse({"network": {"interface": "eth1"}}).network.mode == "dhcp"


def test_static_nameservers_default_to_the_gateway():
    assert [str(n) for n in A.parse({"network": STATIC}).network.nameservers] == ["192.168.1.1"]


@pytest.mark.parametrize("hostname", ["a", "x-1.y--z.example", "123abc.example.org", "A" * 63 + ".example", "cloud01"])
def test_odd_but_valid_hostnames(hostname):
    assert A.parse({"hostname": hostname}).hostname == hostname


BAD = [
    ({"role": "controller"}, "role", "ciab, frontend, node"),
    ({"hostname": "-bad.example"}, "hostname", "labels"),
    ({"hostname": "under_score.example"}, "hostname", "labels"),
    ({"hostname": "a" * 64}, "hostname", "1-63"),
    ({"hostname": "10.0.0.1"}, "hostname", "address"),
    ({"hostname": "x;reboot"}, "hostname", "labels"),
    ({"timezone": "Europe/Berlni"}, "timezone", "Europe/Berlin"),
    ({"timezone": "../../etc/passwd"}, "timezone", "time zone"),
    ({"network": {"mode": "bridge"}}, "network.mode", "'static' or 'dhcp'"),
    ({"network": {"address": "192.168.1.10"}}, "network.address", "prefix length"),
    ({"network": {"address": "192.168.1.300/24"}}, "network.address", "IPv4"),
    ({"network": {"address": "192.168.1.0/24"}}, "network.address", "network or broadcast"),
    ({"network": {"address": "192.168.1.10/24", "gateway": "10.0.0.1"}}, "network.gateway", "inside 192.168.1.0/24"),
    ({"network": {"address": "192.168.1.10/24", "gateway": "192.168.1.10"}}, "network.gateway", "other than"),
    ({"network": {"mode": "dhcp", "address": "192.168.1.10/24"}}, "network.address", "mode dhcp"),
    ({"network": {"interface": "eth0; rm -rf /"}}, "network.interface", "interface name"),
    ({"network": {"address": "192.168.1.10/24", "nameservers": ["dns.example"]}}, "network.nameservers[0]", "IPv4"),
    ({"network": {"mode": "dhcp", "subnet": "10.0.0.1/8"}}, "network.subnet", "IPv4 network"),
    ({"network": STATIC, "public_ips": "10.0.0.1-10.0.0.9"}, "public_ips", "inside the host's subnet"),
    ({"network": STATIC, "public_ips": "192.168.1.5-192.168.1.20"}, "public_ips", "host address 192.168.1.10"),
    ({"network": STATIC, "public_ips": "192.168.1.0-192.168.1.5"}, "public_ips", "usable host address"),
    ({"network": STATIC, "public_ips": "192.168.1.1-192.168.1.5"}, "public_ips", "gateway 192.168.1.1"),
    ({"network": STATIC, "public_ips": "192.168.1.250-192.168.1.255"}, "public_ips", "192.168.1.255"),
    ({"network": STATIC, "public_ips": "192.168.1.20-192.168.1.10"}, "public_ips", "range such as"),
    ({"public_ips": "10.0.0.2-10.0.0.5"}, "public_ips", "network.subnet"),
    ({"ntp_server": "ntp server"}, "ntp_server", "NTP server"),
    ({"dns_domain": "cloud..example"}, "dns_domain", "DNS domain"),
    ({"root_password_hash": "hunter2"}, "root_password_hash", "crypt(3)"),
    ({"ssh_keys": ["ssh-dss AAAAB3NzaC1kc3MAAACBAP"]}, "ssh_keys[0]", "OpenSSH public key"),
    ({"ssh_keys": ["ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 me"]}, "ssh_keys[0]", "type ssh-ed25519"),
    ({"ssh_keys": [KEY.replace("admin@laptop", 'x"; reboot; "')]}, "ssh_keys[0]", "quotes"),
    ({"install_disk": "../sda"}, "install_disk", "disk name"),
    ({"hostnmae": "x"}, "hostnmae", "did you mean 'hostname'"),
    ({"network": {"adress": "1.2.3.4/24"}}, "network.adress", "did you mean 'network.address'"),
]


@pytest.mark.parametrize("data,field,expected", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_answer_is_one_line_naming_the_field(data, field, expected):
    with pytest.raises(A.AnswersError) as e:
        A.parse(data, source="a.yaml")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("answers a.yaml: ")
    assert field in msg
    assert expected in msg


def test_plain_password_is_never_echoed():
    with pytest.raises(A.AnswersError) as e:
        A.parse({"root_password_hash": "my secret password"})
    assert "secret" not in str(e.value)


def test_file_errors_are_one_line(tmp_path):
    with pytest.raises(A.AnswersError, match="file not found"):
        A.load(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("hostname: [unclosed\n")
    with pytest.raises(A.AnswersError, match=r"bad.yaml line \d+: not valid YAML"):
        A.load(bad)
    bad.write_text("- a list\n")
    with pytest.raises(A.AnswersError, match="mapping of answers"):
        A.load(bad)
    with pytest.raises(A.AnswersError, match="range that leaves out the host address"):
        A.load(FIXTURES / "bad-public-range.yaml")


def test_with_role_switches_the_install_flag():
    a = A.parse({})
    assert a.with_role("node").install_flag == "--node"
    with pytest.raises(A.AnswersError):
        a.with_role("nc")


def _fake_ip(route, addr):
    def ip_json(args):
        return route if "route" in args else addr
    return ip_json


def test_detect_static_host(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/timezone").write_text("Europe/Berlin\n")
    (tmp_path / "etc/chrony.conf").write_text("# comment\npool 2.debian.pool.ntp.org iburst\n")
    (tmp_path / "etc/resolv.conf").write_text("nameserver 192.168.1.53\nnameserver fe80::1\n")
    ip = _fake_ip([{"dst": "default", "gateway": "192.168.1.1", "dev": "enp1s0"}],
                  [{"addr_info": [{"family": "inet", "local": "192.168.1.10", "prefixlen": 24}]}])
    d = A.detect_defaults(tmp_path, ip)
    assert d["timezone"] == "Europe/Berlin" and d["ntp_server"] == "2.debian.pool.ntp.org"
    assert d["network"] == {"interface": "enp1s0", "mode": "static", "address": "192.168.1.10/24",
                            "gateway": "192.168.1.1", "nameservers": ["192.168.1.53"]}
    a = A.parse({"public_ips": "192.168.1.200-192.168.1.210"}, defaults=d)
    assert a.network.interface == "enp1s0"


def test_detect_dhcp_host_gives_the_subnet(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/localtime").symlink_to("/usr/share/zoneinfo/America/New_York")
    ip = _fake_ip([{"gateway": "10.0.2.2", "dev": "eth0"}],
                  [{"addr_info": [{"family": "inet", "local": "10.0.2.15", "prefixlen": 24, "dynamic": True}]}])
    d = A.detect_defaults(tmp_path, ip)
    assert d["timezone"] == "America/New_York"
    assert d["network"]["mode"] == "dhcp" and d["network"]["subnet"] == "10.0.2.0/24"
    assert A.parse({"public_ips": "10.0.2.100-10.0.2.110"}, defaults=d).public_ips


def test_detect_on_this_host_parses():
    A.parse({}, defaults=A.detect_defaults())
