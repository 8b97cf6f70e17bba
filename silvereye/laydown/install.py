"""``silvereye install``: turn this host into a cloud-in-a-box, a frontend or a node, step by step.

The answers are settled first (asked, defaulted with ``--yes`` or read from
``--answers``), and a bad answer stops everything before the host is
touched. Then, each step shown as it ends and logged to install.log:

1. preflight for the role (a failure stops the install, except the ones the
   install remedies itself; ``--ignore`` as in preflight)
2. OS packages with apt or dnf (names from :mod:`~silvereye.laydown.packages`)
3. host settings: IP forwarding (a sysctl file), preflight's safe fixes for
   what still fails (libvirt started, modules loaded), checked again
4. configuration: silvereye.yaml, logrotate, the systemd unit (with systemd)
5. the instance network: the libvirt network and the metadata redirect
6. the service: started (systemd, or the supervised daemon) and waited for
7. credentials: the admin's eucarc (0600) and a ``silvereye`` profile in ~/.aws
8. the default image: the tiny image built, uploaded to S3 and registered

Every step records what it did in the manifest and changes nothing that is
already right, so a second run reports that nothing changed.
"""

from __future__ import annotations

import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from silvereye import __version__
from silvereye.config import Config, NetworkConfig
from silvereye.errors import SilvereyeError
from silvereye.laydown import configfile, cloudsetup, hostprep, questions
from silvereye.laydown import service as service_mod
from silvereye.laydown.answers import Answers
from silvereye.laydown.hostfiles import ensure_dir, place_file, record_change, render
from silvereye.laydown.layout import Layout
from silvereye.laydown.manifest import Manifest
from silvereye.laydown.progress import Progress, Step
from silvereye.net import endpoint_url
from silvereye.preflight.fixes import MODULES_FILE, SYSCTL_FILE
from silvereye.preflight.local_host import LocalHost
from silvereye.preflight.model import Role, Status
from silvereye.preflight.runner import parse_ignore

# Files preflight's safe fixes write (recorded in the manifest when they change them).
FIXED_FILES = (Path(MODULES_FILE), Path(SYSCTL_FILE), Path("/etc/hosts"))
ROLE_TITLES = {Role.ciab: "cloud-in-a-box", Role.frontend: "frontend", Role.node: "node controller"}


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@dataclass
class InstallOptions:
    role: Role | None = None
    config_path: Path | None = None
    answers_file: Path | None = None
    assume_yes: bool = False
    ignore: list[str] = field(default_factory=list)
    image: bool = True
    root: Path = Path("/")
    home: Path | None = None


@dataclass
class InstallResult:
    role: Role
    layout: Layout
    cfg: Config
    endpoint: str = ""
    image_id: str = ""
    changed: bool = False
    timings: list[tuple[str, float]] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)


def aws_command() -> str:
    """``aws`` when it is on the PATH, else the one beside this Python (tools/cloud-up installs it in .venv)."""
    if shutil.which("aws"):
        return "aws"
    beside = Path(sys.executable).parent / "aws"
    return str(beside) if beside.exists() else "aws"


class Installer:
    def __init__(self, opts: InstallOptions, console: Console | None = None, *, interactive: bool | None = None):
        self.opts = opts
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self.progress = Progress(self.console)
        self.host = LocalHost()

    # -- before anything is touched ------------------------------------------------
    def settle(self) -> None:
        """Answers, configuration text and layout; raises (changing nothing) when something is wrong."""
        opts = self.opts
        self.ignore = parse_ignore(opts.ignore)
        config_path = opts.config_path or Layout.for_host(Config(), None, opts.root).config_path
        self.existing = configfile.read_settings(config_path)
        role_value = opts.role.value if opts.role is not None else None
        self.answers: Answers = questions.gather(
            role_value, answers_file=opts.answers_file, assume_yes=opts.assume_yes, existing=self.existing,
            console=self.console, interactive=self.interactive,
        )
        self.role = Role(self.answers.role)
        settings = configfile.merge(self.existing, self.answers.config_settings())
        if self.role is not Role.frontend:  # the instance network lives where instances run
            from silvereye.preflight.facts import HostFacts

            bridge = settings.get("network", {}).get("bridge") or NetworkConfig().bridge
            subnet = cloudsetup.instance_subnet(self.existing, HostFacts(self.host).routes, bridge)
            settings = configfile.merge(settings, {"network": {"subnet": subnet}})
        self.config_text, self.cfg = configfile.render_config(settings, self.role.value, str(config_path))
        self.layout = Layout.for_host(self.cfg, config_path, opts.root, opts.home)
        self.manifest = Manifest.load(self.layout.manifest_path) or Manifest(self.layout.manifest_path)
        if self.manifest.role and self.manifest.role != self.role.value:
            raise SilvereyeError(f"this host is installed as {self.manifest.role} (manifest {self.layout.manifest_path}); "
                                 f"run 'silvereye uninstall' before installing it as {self.role.value}")
        self.manifest.role = self.role.value
        self.manifest.layout = self.layout.to_dict()
        kind = next((e.get("manager") for e in self.manifest.of_kind("service")), None)
        self.service = service_mod.for_layout(self.layout, kind)

    # -- the run ------------------------------------------------------------------------
    def run(self) -> InstallResult:
        self.settle()
        p = self.progress
        title = ROLE_TITLES[self.role]
        for d in (self.layout.data_dir, self.layout.log_dir):  # the manifest and install.log live there
            ensure_dir(self.manifest, d, "install")
        self.manifest.save()
        p.open_log(self.layout.install_log, f"silvereye {__version__} install --{self.role.value} on {socket.gethostname()}")
        p.say(f"Installing silvereye {__version__} on {socket.gethostname()} as a {title}", style="bold")
        p.log(f"answers: {self.answers.to_dict()}")
        result = InstallResult(self.role, self.layout, self.cfg)
        try:
            self._steps(result)
        finally:
            if self.manifest.entries:
                self.manifest.save()
            result.timings = p.timings()
            result.changed = p.anything_changed
            p.close()
        return result

    def _steps(self, result: InstallResult) -> None:
        p = self.progress
        with p.step("preflight") as s:
            checked = self.preflight(s)
        with p.step("packages") as s:
            self.packages(s)
        with p.step("host settings") as s:
            self.host_settings(s, checked)
        with p.step("configuration") as s:
            config_changed = self.configuration(s)
        self.manifest.save()
        if self.role is Role.node:
            result.summary = self.node_summary()
            self.finish(result)
            return
        if self.role is Role.ciab:
            with p.step("instance network") as s:
                cloudsetup.ensure_network(self.cfg, self.manifest, s)
            self.manifest.save()
        with p.step("service") as s:
            self.start_service(s, restart=config_changed)
        self.manifest.save()
        result.endpoint = endpoint_url(self.cfg)
        with p.step("credentials") as s:
            creds = cloudsetup.write_credentials(self.cfg, self.layout, self.manifest, s)
        self.manifest.save()
        if self.opts.image:
            with p.step("default image") as s:
                result.image_id = cloudsetup.default_image(self.cfg, creds, self.manifest, s)
            self.manifest.save()
        result.summary = self.cloud_summary(result)
        self.finish(result)

    # -- steps ----------------------------------------------------------------------------
    def preflight(self, s: Step) -> hostprep.Checked:
        ignore = set(self.ignore)
        if self.service.running():
            ignore.add("api-ports-free")  # our own service holds them
            s.note("the API ports are held by silvereye's own service (installed earlier)")
        self.effective_ignore = ignore
        checked = hostprep.run_preflight(self.host, self.cfg, self.role, ignore)
        s.log(checked.report_text)
        ours = {"previous-install"} if self.manifest.entries else set()  # the earlier install is this one
        ours |= ignore - set(self.ignore)
        for f in checked.with_status(Status.warn):
            if f.id not in ours:
                s.note(f"{f.id}: {f.detail}" + (" [ignored failure]" if f.ignored else ""))
        deferred = [f for f in checked.failures if f.id in hostprep.REMEDIED_BY_INSTALL]
        for f in deferred:
            s.note(f"{f.id}: {f.detail} (the install takes care of this)")
        blocking = hostprep.blocking(checked, hostprep.REMEDIED_BY_INSTALL)
        if blocking:
            for f in blocking:
                remedy = f"\n      remedy: {escape(f.remedy)}" if f.remedy else ""
                self.console.print(f"    [red]FAIL[/red] {escape(f.id)}: {escape(f.detail)}{remedy}")
            raise hostprep.blocked_error(self.host, blocking, self.role)
        s.detail(checked.summary())
        return checked

    def packages(self, s: Step) -> None:
        from silvereye.preflight.model import Context

        family = hostprep.package_family(Context(self.host, self.cfg, self.role))
        wanted = hostprep.role_packages(self.role, family)
        installed = hostprep.install_packages(self.host, family, wanted)
        manager = "apt" if family == "debian" else "dnf"
        for name in installed:
            self.manifest.record({"kind": "package", "name": name, "manager": manager, "step": "packages"})
        if installed:
            s.changed(f"installed {' '.join(installed)} with {manager}")
        s.detail(f"{len(wanted)} packages, {len(installed)} newly installed" if installed else f"all {len(wanted)} installed")

    def host_settings(self, s: Step, checked: hostprep.Checked) -> None:
        text = render("sysctl.conf.j2")
        s.changed(*place_file(self.manifest, self.layout.backup_dir, self.layout.sysctl_file, text, "host settings"))
        if cloudsetup.ip_forwarding() != "1":
            self.manifest.record({"kind": "sysctl", "name": "net.ipv4.ip_forward", "before": cloudsetup.ip_forwarding(),
                                  "step": "host settings"})
            cloudsetup.set_ip_forwarding("1")
            s.changed("turned IPv4 forwarding on (net.ipv4.ip_forward = 1)")
        pending = [f.id for f in checked.failures if f.id in hostprep.REMEDIED_BY_INSTALL]
        if not pending:
            return
        again = hostprep.run_preflight(self.host, self.cfg, self.role, self.effective_ignore)
        s.log(again.report_text)
        touched = {p: _read_bytes(p) for p in FIXED_FILES}  # what preflight's fixes may change
        changes, failures = hostprep.apply_safe_fixes(self.host, self.cfg, self.role, again)
        for path, before in touched.items():
            record_change(self.manifest, self.layout.backup_dir, path, before, "host settings")
        s.changed(*changes)
        for line in failures:
            s.note(line)
        final = hostprep.run_preflight(self.host, self.cfg, self.role, self.effective_ignore) if changes else again
        if changes:
            s.log(final.report_text)
        blocking = hostprep.blocking(final)
        if blocking:
            raise hostprep.blocked_error(self.host, blocking, self.role)

    def configuration(self, s: Step) -> bool:
        m, b, step = self.manifest, self.layout.backup_dir, "configuration"
        config_changes = place_file(m, b, self.layout.config_path, self.config_text, step)
        s.changed(*config_changes)
        if self.role is not Role.node:
            s.changed(*place_file(m, b, self.layout.logrotate_file, render("logrotate.j2", log_dir=self.layout.log_dir), step))
            if self.service.kind == "systemd":
                unit = render("silvereye.service.j2", role=ROLE_TITLES[self.role], log_file=self.layout.service_log,
                              exec_start=" ".join(service_mod.serve_argv(self.layout.config_path)))
                s.changed(*place_file(m, b, self.layout.unit_file, unit, step))
        s.detail(str(self.layout.config_path))
        return bool(config_changes)

    def start_service(self, s: Step, restart: bool) -> None:
        svc = self.service
        self.manifest.record({"kind": "service", "name": "silvereye", "manager": svc.kind, "step": "service",
                              "pid_file": str(self.layout.pid_file), "unit": str(self.layout.unit_file)})
        if svc.kind == "supervisor":
            s.changed(*ensure_dir(self.manifest, self.layout.run_dir, "service"))
            s.note("no systemd on this host: the service runs as a supervised daemon "
                   f"(pid file {self.layout.pid_file}, log {self.layout.service_log})")
        if svc.running() and restart:
            svc.restart()
            s.changed("restarted the service for the new configuration")
        elif svc.start():
            s.changed(f"started the service ({svc.description})")
        url = endpoint_url(self.cfg)
        seconds = service_mod.wait_for_api(url, service_mod.API_TIMEOUT, svc, self.layout.service_log)
        s.detail(f"{url} answers" + (f" (after {seconds:.1f} s)" if s.record.changed else ""))

    # -- the end ----------------------------------------------------------------------------
    def cloud_summary(self, result: InstallResult) -> dict[str, str]:
        out = {
            "endpoint": result.endpoint,
            "credentials": f"{self.layout.eucarc} (source it), and profile 'silvereye' in {self.layout.aws_config}",
        }
        if result.image_id:
            out["default image"] = f"{result.image_id} ({cloudsetup.IMAGE_NAME})"
        out["service"] = self.service.description
        out["install log"] = str(self.layout.install_log)
        if result.image_id:
            out["try"] = (f"{aws_command()} --profile silvereye ec2 run-instances --image-id {result.image_id} "
                          f"--instance-type t1.micro")
        else:
            out["try"] = f"{aws_command()} --profile silvereye ec2 describe-availability-zones"
        return out

    def node_summary(self) -> dict[str, str]:
        me = socket.getfqdn()
        return {
            "node": f"{me} is ready to run instances",
            "next": f"on the frontend: silvereye node add root@{me}",
            "install log": str(self.layout.install_log),
        }

    def finish(self, result: InstallResult) -> None:
        p = self.progress
        total = sum(t for _, t in p.timings())
        if p.anything_changed:
            p.say(f"\nsilvereye is installed ({ROLE_TITLES[self.role]}) in {total:.1f} s.", style="bold green")
        else:
            p.say(f"\nNothing changed: everything was already in place ({total:.1f} s).", style="bold green")
        width = max(len(k) for k in result.summary)
        for k, v in result.summary.items():
            p.say(f"  {k.ljust(width)}  {v}")


def install(opts: InstallOptions, console: Console | None = None, **kw: Any) -> InstallResult:
    return Installer(opts, console, **kw).run()
