"""Rendered kickstarts, many answer combinations, each checked the way ksvalidator checks it."""

import base64
import itertools
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pykickstart.constants import SELINUX_ENFORCING

from silvereye import kickstart as K
from silvereye.errors import SilvereyeError
from silvereye.laydown import answers as A

FIXTURES = Path(__file__).parents[2] / "fixtures" / "answers"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJkcZG8pqF6pk3FIepbGIqdeyBhx1vSTl3CoYh0MPUG9 admin on laptop"
HASH = "$6$silvereyesalt0$lJhnIeZgOeP/uKmw9c3UOodNiaZprLJ3XnBxeoAlDBj9Yqa.m6Aen7X0dj2RRilyNcFEZdEWNxCFcP.Bvf3Bd/"
NETWORKS = {
    "static": {"mode": "static", "interface": "enp1s0", "address": "10.1.2.3/16", "gateway": "10.1.0.1",
               "nameservers": ["10.1.0.53"]},
    "static-any-nic": {"address": "192.168.7.9/24"},
    "dhcp": {"mode": "dhcp", "subnet": "10.9.0.0/24"},
}
LOGINS = {"key": {"ssh_keys": [KEY]}, "hash": {"root_password_hash": HASH},
          "both": {"ssh_keys": [KEY, KEY.replace("admin on laptop", "ops")], "root_password_hash": HASH}}
HOSTNAMES = ["a", "x-1.y--z.example", "9lives." + "b" * 63 + ".example"]
HANDLERS = ["RHEL9", "DEVEL"]


def answers(net: str, login: str, hostname: str, **extra) -> A.Answers:
    data = {"hostname": hostname, "network": NETWORKS[net], **LOGINS[login], **extra}
    if net != "static-any-nic":
        data.setdefault("public_ips", "10.9.0.200-10.9.0.210" if net == "dhcp" else "10.1.200.1-10.1.200.50")
    return A.parse(data, source="combo")


def parsed(text: str, handler: str):
    """pykickstart's view of a kickstart (the objects Anaconda reads)."""
    from pykickstart.parser import KickstartParser

    p = KickstartParser(K._handler(handler))
    p.readKickstartFromString(text)
    return p.handler


COMBOS = list(itertools.product(K.PROFILES, NETWORKS, LOGINS, HOSTNAMES, K.TARGETS))


@pytest.mark.parametrize("profile,net,login,hostname,target", COMBOS)
def test_every_combination_validates(profile, net, login, hostname, target):
    r = K.render(answers(net, login, hostname), profile, target, media_label="Rocky-9-4-x86_64-dvd")
    for handler in HANDLERS:
        assert K.validate(r.text, handler) == [], (handler, r.text)


@pytest.mark.parametrize("profile", K.PROFILES)
def test_values_reach_anaconda_intact(profile):
    a = answers("static", "both", "x-1.y--z.example", timezone="America/Argentina/Buenos_Aires", install_disk="nvme0n1")
    h = parsed(K.render(a, profile).text, "RHEL9")
    nd = h.network.network[0]
    assert (nd.bootProto, nd.device, nd.ip, nd.netmask, nd.gateway, nd.hostname) == (
        "static", "enp1s0", "10.1.2.3", "255.255.0.0", "10.1.0.1", "x-1.y--z.example")
    assert nd.nameserver == "10.1.0.53"
    assert h.timezone.timezone == "America/Argentina/Buenos_Aires"
    assert h.rootpw.isCrypted and h.rootpw.password == HASH
    assert [k.key for k in h.sshkey.sshUserList] == [a.ssh_keys[0]]
    post = h.scripts[1].script
    assert f"printf '%s\\n' '{a.ssh_keys[1]}' >> /root/.ssh/authorized_keys" in post
    assert h.selinux.selinux == SELINUX_ENFORCING
    assert h.ignoredisk.onlyuse == ["nvme0n1"] and h.clearpart.drives == ["nvme0n1"]
    mounts = {lv.mountpoint: lv for lv in h.logvol.lvList}
    assert mounts["/var/lib/silvereye"].grow and mounts["/var/lib/silvereye"].size >= 20480
    assert "firstboot" not in h.packages.packageList
    assert h.reboot.eject


def test_firewall_ports_per_role():
    a = answers("static", "key", "a")
    ports = {p: parsed(K.render(a, p).text, "RHEL9").firewall.ports for p in K.PROFILES}
    assert ports["ciab"] == ["8773:tcp", "8775:tcp"]
    assert ports["frontend"] == ["8773:tcp", "8775:tcp"]
    assert ports["node"] == ["16509:tcp", "49152-49215:tcp"]


def test_packages_per_role_and_target():
    a = answers("static", "key", "a")
    pk = {(p, t): parsed(K.render(a, p, t).text, "RHEL9").packages.packageList for p in K.PROFILES for t in K.TARGETS}
    assert "qemu-kvm" in pk[("ciab", "rhel9")] and "libvirt" in pk[("node", "rhel9")]
    assert "qemu-kvm" not in pk[("frontend", "rhel9")] and "haproxy" in pk[("frontend", "rhel9")]
    assert "busybox" not in pk[("ciab", "rhel9")]  # EPEL only: added by `silvereye install`
    assert "busybox" in pk[("ciab", "fedora")]
    assert "policycoreutils-python-utils" in pk[("node", "fedora")]
    assert not any(p.startswith("python3") for p in pk[("ciab", "rhel9")])  # the binary carries Python


def test_post_installs_the_binary_and_a_first_boot_install():
    a = answers("dhcp", "key", "a")
    for profile, flag in A.INSTALL_FLAGS.items():
        h = parsed(K.render(a, profile, media_label="Fedora-S-dvd-x86_64-41").text, "DEVEL")
        nochroot, post = h.scripts[0], h.scripts[1]
        assert not nochroot.inChroot and nochroot.errorOnFail
        assert "/dev/disk/by-label/Fedora-S-dvd-x86_64-41" in nochroot.script
        assert "/mnt/sysroot/usr/local/bin/silvereye" in nochroot.script
        assert post.inChroot and post.errorOnFail
        assert f"ExecStart=/usr/local/bin/silvereye install {flag} --yes --answers /etc/silvereye/answers.yaml" in post.script
        assert "systemctl enable silvereye-firstboot.service" in post.script
        assert "semanage fcontext -a -t virt_image_t" in post.script and "restorecon -R /var/lib/silvereye" in post.script


def test_answers_travel_to_the_installed_system_unchanged():
    a = answers("static", "both", "x-1.y--z.example")
    text = K.render(a, "node").text
    blob = re.search(r"<<'SILVEREYE_ANSWERS'\n(.*?)\nSILVEREYE_ANSWERS\n", text, re.S).group(1)
    carried = A.parse(yaml.safe_load(base64.b64decode(blob.replace("\n", ""))), source="carried")
    assert carried == a.with_role("node")


def test_a_label_with_spaces_is_escaped_for_udev_and_quoted_for_the_shell():
    text = K.render(answers("dhcp", "key", "a"), "ciab", media_label="My DVD's 9").text
    assert r"'/dev/disk/by-label/My\x20DVD\x27s\x209'" in text


def test_dhcp_warns_static_does_not():
    assert any("DHCP" in w for w in K.render(answers("dhcp", "key", "a"), "ciab").warnings)
    assert K.render(answers("static", "key", "a"), "ciab").warnings == ()


def test_a_login_is_required_unless_the_installer_may_ask():
    a = A.parse({})
    with pytest.raises(SilvereyeError, match="at least one way to log in"):
        K.render(a, "ciab")
    h = parsed(K.render(a, "ciab", ask_root_password=True).text, "RHEL9")
    assert h.rootpw.password == "" and not h.rootpw.lock


def test_key_only_locks_the_root_password():
    h = parsed(K.render(answers("static", "key", "a"), "ciab").text, "RHEL9")
    assert h.rootpw.lock


def test_validator_reports_what_anaconda_would_reject():
    assert K.validate("bogus-command --x\n", "RHEL9")
    assert K.validate("network --bootproto=static --ip=1.2.3.4 --noipv5\n", "DEVEL")
    assert K.validate("text\nauth --useshadow\n", "DEVEL")  # removed command


def test_unknown_profile_and_target():
    a = answers("static", "key", "a")
    with pytest.raises(SilvereyeError, match="unknown kickstart profile 'nc'"):
        K.render(a, "nc")
    with pytest.raises(SilvereyeError, match="unknown target 'debian'"):
        K.render(a, "ciab", "debian")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "silvereye", *args], capture_output=True, text=True)


def test_cli_render_writes_a_private_file(tmp_path):
    out = tmp_path / "ciab.ks"
    r = run_cli("kickstart", "render", "--profile", "ciab", "--answers", str(FIXTURES / "static.yaml"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert K.validate(out.read_text(), "RHEL9") == []


def test_cli_render_to_stdout_with_the_answers_role_and_a_warning():
    r = run_cli("kickstart", "render", "--answers", str(FIXTURES / "dhcp.yaml"), "--target", "fedora")
    assert r.returncode == 0
    assert "silvereye install --cloud-in-a-box" in r.stdout
    assert r.stderr.startswith("warning: network: DHCP")
    assert K.validate(r.stdout, "DEVEL") == []


@pytest.mark.parametrize("args,needle", [
    (["--answers", str(FIXTURES / "bad-public-range.yaml")], "public_ips"),
    (["--answers", "/nonexistent/answers.yaml"], "file not found"),
    ([], "at least one way to log in"),
    (["--answers", str(FIXTURES / "static.yaml"), "--profile", "controller"], "unknown kickstart profile"),
])
def test_cli_bad_input_is_one_line(args, needle):
    r = run_cli("kickstart", "render", *args)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert needle in r.stderr
