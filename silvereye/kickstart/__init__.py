"""Kickstart files for an unattended RHEL-9-family or Fedora install of a silvereye role.

The profiles (``ciab``, ``frontend``, ``node``) are Jinja2 templates in
``templates/`` (the top-level ``kickstart/`` directory points there). The
answers (silvereye.laydown.answers) fill them; every rendered file is checked
with pykickstart, the parser Anaconda itself uses, before anyone boots it.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from importlib import resources

import jinja2

from silvereye import __version__
from silvereye.errors import SilvereyeError
from silvereye.laydown import packages as pkgs
from silvereye.laydown.answers import Answers

PROFILES = ("ciab", "frontend", "node")
TITLES = {"ciab": "Cloud-in-a-box", "frontend": "Frontend", "node": "Node controller"}
TARGETS: dict[str, str] = {"rhel9": "RHEL 9 family: Rocky, Alma, CentOS Stream", "fedora": "Fedora"}
# pykickstart handler each target is validated with. DEVEL is the newest Fedora syntax pykickstart knows.
HANDLERS: dict[str, str] = {"rhel9": "RHEL9", "fedora": "DEVEL"}

# Ports opened in firewalld per role, besides ssh. 8773: the API; 8775: the
# metadata listener; 16509: libvirt's TCP socket; 49152-49215: live migration.
PORTS = {
    "ciab": ["8773:tcp", "8775:tcp"],
    "frontend": ["8773:tcp", "8775:tcp"],
    "node": ["16509:tcp", "49152-49215:tcp"],
}
SERVICES = ["sshd", "chronyd", "firewalld"]
# The kickstart itself needs these: semanage in %post, the firewall, time sync,
# and tar and gzip, with which the single binary unpacks itself on first start.
BASE_PACKAGES = ["chrony", "firewalld", "policycoreutils-python-utils", "tar", "gzip"]
# Not on a RHEL 9 DVD (they come from EPEL); `silvereye install` adds them after the first boot.
NOT_ON_EL_MEDIA = {"busybox", "dropbear"}
# Components the laydown installs that the kickstart leaves out: the single binary carries its own Python.
SKIPPED_COMPONENTS = {"python"}

ROOT_MIB = 20 * 1024
DATA_MIN_MIB = 20 * 1024


@dataclass(frozen=True)
class Rendered:
    profile: str
    target: str
    text: str
    warnings: tuple[str, ...]


def ks_quote(value: object) -> str:
    """Quote one kickstart argument (pykickstart and Anaconda split lines with shlex)."""
    return shlex.quote(str(value))


def udev_escape(label: str) -> str:
    """A volume label as udev names it under /dev/disk/by-label (and as LABEL= on a boot line).

    udev keeps letters, digits and ``#+-.:=@_``; everything else becomes ``\\xHH``
    per byte, so "Fedora 41 x86_64" is "Fedora\\x2041\\x20x86_64".
    """
    keep = set(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#+-.:=@_")
    return "".join(chr(b) if b in keep else f"\\x{b:02x}" for b in label.encode("utf-8"))


def role_packages(role: str, target: str) -> list[str]:
    """Packages for %packages: the laydown's 'el' names for the role, less what the DVD cannot give."""
    out = list(BASE_PACKAGES)
    for comp in pkgs.SETS[role]:
        if comp in SKIPPED_COMPONENTS:
            continue
        for p in pkgs.COMPONENTS[comp]["el"]:
            if target == "rhel9" and p in NOT_ON_EL_MEDIA:
                continue
            if p not in out:
                out.append(p)
    return out


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(_load_template)
    env = jinja2.Environment(
        loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False,
    )
    env.filters["ks"] = ks_quote
    env.filters["sh"] = shlex.quote
    return env


def _load_template(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text()


def render(answers: Answers, profile: str | None = None, target: str = "rhel9", media_label: str = "",
           ask_root_password: bool = False) -> Rendered:
    """Render one profile (default: the answers' role) for a target distribution.

    ``media_label`` is the install media's volume label: the %post looks for
    the silvereye binary on /dev/disk/by-label/<label> when Anaconda has not
    mounted the media itself. With ``ask_root_password`` answers without a
    password hash or key are accepted: the kickstart leaves rootpw out and the
    installer stops once to ask for it (the DVD built without answers).
    """
    profile = profile or answers.role
    if profile not in PROFILES:
        raise SilvereyeError(f"unknown kickstart profile {profile!r}: choose one of {', '.join(PROFILES)}")
    if target not in TARGETS:
        raise SilvereyeError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    a = answers.with_role(profile)
    if not a.root_password_hash and not a.ssh_keys and not ask_root_password:
        raise SilvereyeError(
            f"answers {a.source}: root_password_hash, ssh_keys: a kickstart needs at least one way to log in "
            "as root; add a hash from 'openssl passwd -6' or an SSH public key"
        )
    warnings = []
    if a.network.mode == "dhcp":
        warnings.append("network: DHCP; the cloud's endpoint follows the lease, so give a static address for a lasting cloud")
    if profile == "node" and a.public_ips:
        warnings.append("public_ips: a node does not hand out elastic IPs; the frontend's answers decide them")
    yaml_b64 = base64.b64encode(a.to_yaml().encode()).decode()
    ctx = {
        "a": a,
        "title": TITLES[profile],
        "target_name": TARGETS[target],
        "version": __version__,
        "lang": "en_US.UTF-8",
        "keyboard": "us",
        "ntp_is_pool": a.ntp_server.startswith("pool.") or ".pool." in a.ntp_server,
        "device": a.network.interface or "link",
        "ports": PORTS[profile],
        "services": SERVICES,
        "packages": role_packages(profile, target),
        "root_mib": ROOT_MIB,
        "data_min_mib": DATA_MIN_MIB,
        "media_device": f"/dev/disk/by-label/{udev_escape(media_label)}" if media_label else "",
        "answers_b64": [yaml_b64[i:i + 76] for i in range(0, len(yaml_b64), 76)],
    }
    text = _environment().get_template(f"{profile}.ks.j2").render(**ctx)
    return Rendered(profile, target, text, tuple(warnings))


def validate(text: str, handler: str) -> list[str]:
    """Problems pykickstart finds in a kickstart for one syntax version (empty: valid).

    Follows ksvalidator: parse warnings and deprecations count as errors; the
    first problem stops the parse so its message can be reported.
    """
    import warnings

    from pykickstart.errors import KickstartDeprecationWarning, KickstartError, KickstartParseWarning
    from pykickstart.parser import KickstartParser

    parser = KickstartParser(_handler(handler), errorsAreFatal=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=KickstartParseWarning)
        warnings.filterwarnings("error", category=KickstartDeprecationWarning)
        try:
            parser.readKickstartFromString(text)
        except (KickstartError, KickstartParseWarning, KickstartDeprecationWarning) as e:
            return [str(e).strip()]
    return [f"{parser.errorsCount} error(s) reported by pykickstart"] if parser.errorsCount else []


def _handler(name: str):
    """A pykickstart syntax handler by name (RHEL9, F42, DEVEL).

    Imported by its package path rather than through pykickstart's own loader,
    which puts handlers/ on sys.path: that does not work inside the single binary.
    """
    import importlib

    from pykickstart.version import DEVEL, versionMap, versionToString

    module = versionToString(versionMap[name] if name != "DEVEL" else DEVEL, skipDevel=True).lower()
    mod = importlib.import_module(f"pykickstart.handlers.{module}")
    cls = next(v for k, v in vars(mod).items() if k.lower() == f"{module}handler")
    return cls()


def render_checked(answers: Answers, profile: str | None = None, target: str = "rhel9", media_label: str = "",
                   ask_root_password: bool = False) -> Rendered:
    """Render, then refuse to hand out a kickstart its target's pykickstart handler rejects."""
    out = render(answers, profile, target, media_label, ask_root_password)
    problems = validate(out.text, HANDLERS[target])
    if problems:
        first = problems[0].splitlines()
        raise SilvereyeError(
            f"the rendered {out.profile} kickstart does not pass pykickstart {HANDLERS[target]}: "
            f"{' '.join(p.strip() for p in first)}; this is a silvereye bug, please report it"
        )
    return out


def write_file(path, text: str) -> None:
    """Write a kickstart 0600 (it carries the root password hash), replacing any old file atomically."""
    import os
    from pathlib import Path

    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, p)
    except OSError as e:
        raise SilvereyeError(f"cannot write {p}: {e.strerror}; check the directory exists and is writable") from None
