"""The install's questions and the configuration file it writes from the answers."""

from __future__ import annotations

import io

import pytest
import yaml
from rich.console import Console

from silvereye import config as config_mod
from silvereye.config import ConfigError
from silvereye.errors import SilvereyeError
from silvereye.laydown import configfile, questions
from silvereye.laydown.answers import AnswersError

DETECTED = {
    "hostname": "cloud1.example.com",
    "dns_domain": "example.com",
    "ntp_server": "ntp.example.com",
    "network": {"interface": "eth0", "mode": "static", "address": "192.168.1.10/24", "gateway": "192.168.1.1"},
}
LAN2 = {"interface": "eth1", "mode": "static", "address": "10.9.0.5/24"}


def gather(role="ciab", **kw):
    defaults = dict(answers_file=None, assume_yes=True, existing={}, console=Console(file=io.StringIO()),
                    interactive=False, detect=lambda: dict(DETECTED), describe=lambda dev: {**LAN2, "interface": dev},
                    interfaces=lambda: ["eth0", "eth1"])
    defaults.update(kw)
    return questions.gather(role, **defaults)


def test_yes_takes_what_the_host_shows():
    a = gather()
    assert (a.role, a.network.interface, a.ntp_server, a.dns_domain, a.public_ips) == (
        "ciab", "eth0", "ntp.example.com", "example.com", "")
    assert a.config_settings() == {"dns_domain": "example.com", "network": {
        "interface": "eth0", "public_range": "", "ntp_server": "ntp.example.com"}}


def test_a_second_install_proposes_what_the_first_chose():
    existing = {"dns_domain": "cloud.test", "network": {"interface": "eth1", "public_range": "10.9.0.200-10.9.0.210"}}
    a = gather(existing=existing)
    assert (a.network.interface, a.public_ips, a.dns_domain) == ("eth1", "10.9.0.200-10.9.0.210", "cloud.test")


def test_an_answers_file_wins_and_keeps_what_it_leaves_out_detected(tmp_path):
    f = tmp_path / "answers.yaml"
    f.write_text("role: frontend\npublic_ips: 192.168.1.200-192.168.1.210\n")
    a = gather(role=None, answers_file=f, assume_yes=False)
    assert (a.role, a.public_ips, a.ntp_server) == ("frontend", "192.168.1.200-192.168.1.210", "ntp.example.com")


def test_an_answers_file_that_contradicts_the_flag_is_one_line(tmp_path):
    f = tmp_path / "answers.yaml"
    f.write_text("role: node\n")
    with pytest.raises(AnswersError) as e:
        gather(role="ciab", answers_file=f)
    assert str(e.value) == f"answers {f}: role: 'node' contradicts --cloud-in-a-box; change the file's role or the flag"


def test_a_bad_answer_names_the_field(tmp_path):
    f = tmp_path / "answers.yaml"
    f.write_text("public_ips: 10.0.0.1-10.0.0.5\n")
    with pytest.raises(AnswersError) as e:
        gather(answers_file=f)
    assert "\n" not in str(e.value)
    assert str(e.value).startswith(f"answers {f}: public_ips: '10.0.0.1-10.0.0.5' is not valid: expected every address inside")


def test_without_a_terminal_or_yes_it_says_what_to_pass():
    with pytest.raises(SilvereyeError, match="no terminal .* pass --yes"):
        gather(assume_yes=False)
    with pytest.raises(SilvereyeError, match="--cloud-in-a-box, --frontend or --node"):
        gather(role=None)


def test_questions_are_asked_with_defaults_and_a_wrong_answer_is_asked_again():
    asked = []
    replies = iter(["eth1", "192.168.1.200-192.168.1.201", "10.9.0.200-10.9.0.201", "", "my.cloud"])

    def ask(question, default):
        asked.append((question, default))
        return next(replies) or default  # Enter takes the default, as rich's prompt does

    out = io.StringIO()
    a = gather(assume_yes=False, interactive=True, ask=ask, console=Console(file=out, width=300))
    assert asked[0] == ("Interface facing the outside world (eth0, eth1)", "eth0")
    assert [q for q, _ in asked].count(questions.QUESTIONS[1][1]) == 2  # asked again after the wrong range
    assert asked[3] == ("NTP server", "ntp.example.com")
    assert (a.network.interface, a.public_ips, a.ntp_server, a.dns_domain) == (
        "eth1", "10.9.0.200-10.9.0.201", "ntp.example.com", "my.cloud")
    assert "public_ips: '192.168.1.200-192.168.1.201' is not valid: expected every address inside the host's subnet 10.9.0.0/24" in out.getvalue()


def test_the_config_file_keeps_earlier_settings_and_documents_each_key(tmp_path):
    existing = {"data_dir": "/srv/se", "api": {"port": 9000}, "network": {"subnet": "10.99.0.0/20"}}
    settings = configfile.merge(existing, gather().config_settings())
    text, cfg = configfile.render_config(settings, "ciab", "test")
    assert (cfg.data_dir, cfg.api.port, cfg.network.subnet, cfg.network.interface) == ("/srv/se", 9000, "10.99.0.0/20", "eth0")
    assert "# Where state, objects, images and disks live.\ndata_dir: /srv/se\n" in text
    assert yaml.safe_load(text) == settings
    path = tmp_path / "silvereye.yaml"
    path.write_text(text)
    assert config_mod.load(path).to_dict() == cfg.to_dict()


def test_nodes_round_trip_through_the_template():
    nodes = [{"name": "n1", "uri": "qemu+ssh://root@10.0.0.2:2222/system?keyfile=/var/lib/silvereye/ssh/id_ed25519"}]
    text, cfg = configfile.render_config({"compute": {"nodes": nodes}}, "frontend", "test")
    assert [(n.name, n.uri) for n in cfg.compute.nodes] == [(d["name"], d["uri"]) for d in nodes]


def test_a_bad_existing_setting_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"^config x: api.port: 70000 is not valid: expected a port number"):
        configfile.render_config({"api": {"port": 70000}}, "ciab", "x")
    with pytest.raises(ConfigError, match=r"unknown key 'netwrk'"):
        configfile.render_config({"netwrk": {}}, "ciab", "x")


def test_the_instance_subnet_moves_off_a_lan_that_uses_the_default():
    import ipaddress

    from silvereye.laydown.cloudsetup import instance_subnet
    from silvereye.preflight.facts import Route

    def route(dev, net):
        return Route(dev, ipaddress.IPv4Network(net), None)

    lan = [route("eth0", "0.0.0.0/0"), route("eth0", "192.168.1.0/24")]
    assert instance_subnet({}, lan, "sebr0") == "172.31.0.0/20"
    assert instance_subnet({}, lan + [route("sebr0", "172.31.0.0/20")], "sebr0") == "172.31.0.0/20"  # ours
    moved = ipaddress.IPv4Network(instance_subnet({}, [route("eth0", "172.31.4.0/24")], "sebr0"))
    assert moved.prefixlen == 20 and moved.subnet_of(ipaddress.IPv4Network("10.200.0.0/13"))
    assert instance_subnet({"network": {"subnet": "10.1.0.0/24"}}, lan, "sebr0") == "10.1.0.0/24"
