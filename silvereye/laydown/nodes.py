"""``silvereye node add|list|remove``: node controllers reached over SSH.

``node add root@host[:port]`` does what an administrator would do by hand
to let a frontend's libvirt drive another host through ``qemu+ssh://``:

1. connects with paramiko (the operator's key or agent; a first-seen host
   key is remembered in known_hosts, as ``ssh`` does with accept-new)
2. runs the node preflight there and stops on a failure (``--ignore``)
3. installs the node packages there with its own apt or dnf
4. starts libvirt there and applies the other safe fixes, then checks again
5. sets up the SSH trust libvirt needs: this frontend's own key pair
   (made once, under the data directory) authorised in the file the node's
   sshd actually reads, and the node's host key in known_hosts
6. registers ``qemu+ssh://user@host[:port]/system?keyfile=...`` under
   ``compute.nodes`` in silvereye.yaml, defines the instance network there,
   and restarts the service so the scheduler places instances on it

Everything is recorded in the install manifest, so ``node remove`` and
``uninstall`` take it back out.
"""

from __future__ import annotations

import copy
import posixpath
import re
import socket
from pathlib import Path
from typing import Any

from rich.console import Console

from silvereye import config as config_mod
from silvereye.config import Config
from silvereye.errors import SilvereyeError
from silvereye.laydown import cloudsetup, configfile, hostprep
from silvereye.laydown import service as service_mod
from silvereye.laydown.hostfiles import add_line, ensure_dir, place_file, remove_line
from silvereye.laydown.layout import Layout
from silvereye.laydown.manifest import Manifest
from silvereye.laydown.progress import Progress, Step
from silvereye.preflight.host import Host
from silvereye.preflight.model import Role
from silvereye.preflight.runner import parse_ignore
from silvereye.preflight.ssh_host import SSHHost, SSHTarget, parse_target

LOCAL_NODE = "local"
NODE_LIBVIRT_URI = "qemu:///system"  # what the qemu+ssh URI reaches on the node
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
KEY_COMMENT = "silvereye-frontend"


def node_view(cfg: Config) -> Config:
    """The configuration as the node sees itself: its own libvirt is qemu:///system on it."""
    view = copy.deepcopy(cfg)
    view.compute.libvirt_uri = NODE_LIBVIRT_URI
    view.compute.nodes = []
    return view


def _frontend(config: Path | None) -> tuple[Config, Manifest, Layout]:
    cfg = config_mod.load(config)
    manifest = Manifest.load(Layout.for_host(cfg).manifest_path)
    if manifest is None or not manifest.of_kind("service"):
        raise SilvereyeError("this host is not a silvereye frontend yet: run 'silvereye install --frontend' "
                             "(or --cloud-in-a-box) first, then add nodes")
    return cfg, manifest, Layout.from_dict(manifest.layout)


# ---------------------------------------------------------------------------
# The frontend's key and the node's trust in it
# ---------------------------------------------------------------------------


def ensure_key(manifest: Manifest, layout: Layout, s: Step) -> str:
    """The frontend's ed25519 key pair for qemu+ssh (made once); its public key line."""
    pub = layout.ssh_key.with_suffix(".pub")
    if layout.ssh_key.exists() and pub.exists():
        return pub.read_text().strip()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    line = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    line = f"{line} {KEY_COMMENT}@{socket.gethostname()}"
    s.changed(*ensure_dir(manifest, layout.ssh_dir, "node add", mode=0o700))
    s.changed(*place_file(manifest, layout.backup_dir, layout.ssh_key, pem, "node add", mode=0o600))
    s.changed(*place_file(manifest, layout.backup_dir, pub, line + "\n", "node add", mode=0o644))
    return line


def _home_of(host: Host, user: str) -> str:
    r = host.run(["getent", "passwd", user])
    fields = r.stdout.strip().split(":")
    if not r.ok or len(fields) < 6 or not fields[5].startswith("/"):
        raise SilvereyeError(f"{host.name}: cannot find the home directory of {user}")
    return fields[5]


def sshd_config_of(cmdline: str) -> str | None:
    """The -f argument of an sshd, from /proc/PID/cmdline (NUL-separated, or one retitled line:
    ``sshd: /usr/sbin/sshd -D -f /etc/ssh/alt_config [listener] 0 of 10-100 startups``)."""
    words = [w for w in cmdline.split("\0") if w]
    if len(words) == 1:
        words = words[0].split()
    for i, w in enumerate(words[:-1]):
        if w == "-f":
            return words[i + 1]
        if w.startswith("-f") and len(w) > 2:
            return w[2:]
    return None


def authorized_keys_file(host: Host, user: str) -> str:
    """The authorized_keys file the sshd we are talking to reads for ``user`` (``sshd -T`` on its own config)."""
    home = _home_of(host, user)
    default = posixpath.join(home, ".ssh/authorized_keys")
    conn = host.environ().get("SSH_CONNECTION", "").split()
    if len(conn) != 4:
        return default
    client_ip, _, _, server_port = conn
    found = host.run(["ss", "-Htlnp", f"sport = :{server_port}"])
    m = re.search(r'"sshd",pid=(\d+)', found.stdout)
    if not m:
        return default
    pid = m.group(1)
    exe = host.run(["readlink", f"/proc/{pid}/exe"]).stdout.strip() or "sshd"
    argv = [exe, "-T", "-C", f"user={user},host={client_ip},addr={client_ip}"]
    config = sshd_config_of(host.read_file(f"/proc/{pid}/cmdline") or "")
    if config:
        argv += ["-f", config]
    r = host.run(argv)
    for line in r.stdout.splitlines():
        words = line.split()
        if words and words[0].lower() == "authorizedkeysfile" and len(words) > 1:
            first = words[1].replace("%%", "\0").replace("%h", home).replace("%u", user).replace("\0", "%")
            return first if first.startswith("/") else posixpath.join(home, first)
    return default


def authorize_key(host: Host, user: str, key_line: str) -> tuple[str, bool]:
    """Add ``key_line`` to the node's authorized keys; (the file, whether it was added)."""
    path = authorized_keys_file(host, user)
    current = host.read_file(path) or ""
    if key_line in current.splitlines():
        return path, False
    r = host.run(["mkdir", "-p", "-m", "700", posixpath.dirname(path)])
    if not r.ok:
        raise SilvereyeError(f"{host.name}: cannot create {posixpath.dirname(path)}: {r.last_error_line()}")
    text = current + ("" if not current or current.endswith("\n") else "\n") + key_line + "\n"
    host.write_file(path, text, 0o600)
    return path, True


def revoke_trust(entry: dict[str, Any], layout: Layout, s: Step) -> list[str]:
    """Take this frontend's key out of the node's authorized keys (the node may be gone: then say so)."""
    if not entry.get("authorized_keys") or entry.get("key_preexisting"):
        return []
    target = parse_target(entry["target"])
    try:
        with SSHHost(target, layout.ssh_key, known_hosts=layout.known_hosts) as host:
            host.connect()
            current = host.read_file(entry["authorized_keys"]) or ""
            lines = current.splitlines()
            kept = [ln for ln in lines if ln != entry["key_line"]]
            if len(kept) == len(lines):
                return []
            host.write_file(entry["authorized_keys"], "".join(ln + "\n" for ln in kept), 0o600)
    except SilvereyeError as e:
        s.note(f"could not withdraw this frontend's key from node {entry['name']}: {e}")
        return []
    return [f"withdrew this frontend's key from {entry['authorized_keys']} on node {entry['name']}"]


# ---------------------------------------------------------------------------
# The configuration
# ---------------------------------------------------------------------------


def node_uri(target: SSHTarget, key: Path) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    port = "" if target.port == 22 else f":{target.port}"
    return f"qemu+ssh://{target.user}@{host}{port}/system?keyfile={key}"


def write_nodes(cfg: Config, layout: Layout, manifest: Manifest, nodes: list[dict[str, str]], s: Step) -> Config:
    """silvereye.yaml with ``compute.nodes`` set to ``nodes`` (other settings untouched)."""
    settings = configfile.read_settings(layout.config_path)
    compute = dict(settings.get("compute") or {})
    compute["nodes"] = nodes
    if not nodes:
        compute.pop("nodes")
    settings = {**settings, "compute": compute} if compute else {k: v for k, v in settings.items() if k != "compute"}
    text, new_cfg = configfile.render_config(settings, manifest.role, str(layout.config_path))
    s.changed(*place_file(manifest, layout.backup_dir, layout.config_path, text, "configuration"))
    return new_cfg


def _restart_service(manifest: Manifest, layout: Layout, cfg: Config, s: Step) -> None:
    kinds = manifest.of_kind("service")
    svc = service_mod.for_layout(layout, kinds[0].get("manager") if kinds else None)
    if svc.running():
        svc.restart()
        s.changed("restarted the service so the scheduler uses the new node list")
        from silvereye.net import endpoint_url

        service_mod.wait_for_api(endpoint_url(cfg), service_mod.API_TIMEOUT, svc, layout.service_log)


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def _node_name(host: Host, requested: str | None, taken: set[str]) -> str:
    if requested is None:
        r = host.run(["hostname", "-s"])
        requested = (r.stdout.strip() or host.name).lower()
    if not _NAME.match(requested):
        raise SilvereyeError(f"node name {requested!r} is not valid: use lower-case letters, digits and '-' (pass --name)")
    if requested == LOCAL_NODE:
        raise SilvereyeError(f"the node name '{LOCAL_NODE}' is this host's own node; pass another with --name")
    if requested in taken:
        raise SilvereyeError(f"there is already a node named {requested!r}; pass another with --name")
    return requested


def add(config: Path | None, target_text: str, *, name: str | None = None, ssh_key: Path | None = None,
        ignore: list[str] | None = None, console: Console | None = None) -> str:
    """Add a node; its name."""
    cfg, manifest, layout = _frontend(config)
    target = parse_target(target_text)
    ignored = parse_ignore(ignore or [])
    if ssh_key is not None and not ssh_key.is_file():
        raise SilvereyeError(f"--ssh-key {ssh_key}: no such file")
    existing = {n.name: n.uri for n in cfg.compute.nodes}
    for n in manifest.of_kind("node"):
        if parse_target(n["target"]) == target:
            raise SilvereyeError(f"{target} is already node {n['name']!r}; 'silvereye node remove {n['name']}' first to add it again")
    p = Progress(console or Console(highlight=False, soft_wrap=True))
    p.open_log(layout.install_log, f"silvereye node add {target}")
    known_before = set(_lines(layout.known_hosts))
    try:
        return _add(p, cfg, manifest, layout, target, name, ssh_key, ignored, set(existing), known_before)
    except BaseException:
        # A node that was not added leaves no trace: not even the host key the connection remembered.
        for line in set(_lines(layout.known_hosts)) - known_before:
            if manifest.find("line", f"{layout.known_hosts}\0{line}") is None:
                remove_line(layout.known_hosts, line)
        raise
    finally:
        manifest.save()
        p.close()


def _add(p: Progress, cfg: Config, manifest: Manifest, layout: Layout, target: SSHTarget, name: str | None,
         ssh_key: Path | None, ignored: set[str], taken: set[str], known_before: set[str]) -> str:
    p.say(f"Adding node {target}", style="bold")
    frontend_cfg, cfg = cfg, node_view(cfg)
    with p.step("connect") as s:
        host = SSHHost(target, ssh_key, known_hosts=layout.known_hosts)
        host.connect()
        node_name = _node_name(host, name, taken)
        s.detail(f"{host.name} is {node_name}")
    try:
        with p.step("preflight") as s:
            checked = hostprep.run_preflight(host, cfg, Role.node, ignored)
            s.log(checked.report_text)
            blocking = hostprep.blocking(checked, hostprep.REMEDIED_BY_INSTALL)
            if blocking:
                raise hostprep.blocked_error(host, blocking, Role.node)
            s.detail(checked.summary())
        with p.step("packages") as s:
            from silvereye.preflight.model import Context

            family = hostprep.package_family(Context(host, cfg, Role.node))
            wanted = hostprep.role_packages(Role.node, family)
            installed = hostprep.install_packages(host, family, wanted)
            if installed:
                s.changed(f"installed {' '.join(installed)} on {node_name}")
            s.detail(f"all {len(wanted)} installed" if not installed else f"{len(installed)} newly installed")
        with p.step("host settings") as s:
            again = hostprep.run_preflight(host, cfg, Role.node, ignored)
            changes, failures = hostprep.apply_safe_fixes(host, cfg, Role.node, again)
            s.changed(*changes)
            for line in failures:
                s.note(line)
            final = hostprep.run_preflight(host, cfg, Role.node, ignored) if changes else again
            s.log(final.report_text)
            if hostprep.blocking(final):
                raise hostprep.blocked_error(host, hostprep.blocking(final), Role.node)
        with p.step("ssh trust") as s:
            key_line = ensure_key(manifest, layout, s)
            ak_path, added = authorize_key(host, target.user, key_line)
            if added:
                s.changed(f"authorised this frontend's key in {ak_path} on {node_name}")
            host_lines = [ln for ln in _lines(layout.known_hosts) if ln.split(" ", 1)[0] == target.known_hosts_name]
            for ln in host_lines:
                s.changed(*add_line(manifest, layout.known_hosts, ln, "node add", node=node_name))
                if ln not in known_before:
                    manifest.find("line", f"{layout.known_hosts}\0{ln}")["existed"] = False
            s.detail(f"{layout.ssh_key} is trusted by {target}")
    finally:
        host.close()
    uri = node_uri(target, layout.ssh_key)
    manifest.record({"kind": "node", "name": node_name, "uri": uri, "target": str(target), "step": "node add",
                     "authorized_keys": ak_path, "key_line": key_line, "key_preexisting": not added})
    with p.step("register") as s:
        cfg = frontend_cfg
        cloudsetup.ensure_node_network(cfg, node_name, uri, manifest, s)
        nodes = [{"name": n.name, "uri": n.uri} for n in cfg.compute.nodes] + [{"name": node_name, "uri": uri}]
        cfg = write_nodes(cfg, layout, manifest, nodes, s)
        _restart_service(manifest, layout, cfg, s)
        s.detail(f"node {node_name}: {uri}")
    p.say(f"\nNode {node_name} is added; the scheduler now places instances on it too.", style="bold green")
    return node_name


def _lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _role(cfg: Config) -> str:
    manifest = Manifest.load(Layout.for_host(cfg).manifest_path)
    return manifest.role if manifest else ""


def list_nodes(config: Path | None) -> list[dict[str, Any]]:
    cfg = config_mod.load(config)
    rows = []
    try:
        from silvereye.laydown.uninstall import instances_of_this_cloud

        driver = cloudsetup.compute_driver(cfg)
    except SilvereyeError:
        return [{"name": LOCAL_NODE, "uri": cfg.compute.libvirt_uri, "state": "unknown", "instances": 0}] + [
            {"name": n.name, "uri": n.uri, "state": "unknown", "instances": 0} for n in cfg.compute.nodes]
    try:
        mine = instances_of_this_cloud(driver)
        for node in driver.nodes:
            try:
                node.connection()
                state = "up"
            except SilvereyeError:
                frontend_itself = node.name == LOCAL_NODE and _role(cfg) == "frontend"
                state = "not used" if frontend_itself else "unreachable"
            rows.append({"name": node.name, "uri": node.uri, "state": state,
                         "instances": sum(1 for i in mine if i.node == node.name)})
    finally:
        driver.close()
    return rows


def remove(config: Path | None, name: str, *, force: bool = False, console: Console | None = None) -> None:
    cfg, manifest, layout = _frontend(config)
    if name == LOCAL_NODE:
        raise SilvereyeError(f"'{LOCAL_NODE}' is this host's own node; 'silvereye uninstall' removes it")
    if name not in {n.name for n in cfg.compute.nodes}:
        known = ", ".join(n.name for n in cfg.compute.nodes) or "none"
        raise SilvereyeError(f"there is no node named {name!r} (nodes: {known})")
    p = Progress(console or Console(highlight=False, soft_wrap=True))
    p.open_log(layout.install_log, f"silvereye node remove {name}")
    try:
        _remove(p, cfg, manifest, layout, name, force)
    finally:
        manifest.save()
        p.close()


def _remove(p: Progress, cfg: Config, manifest: Manifest, layout: Layout, name: str, force: bool) -> None:
    from silvereye.laydown.uninstall import instances_of_this_cloud

    driver = cloudsetup.compute_driver(cfg)
    try:
        node = driver.node(name)
        with p.step("instances") as s:
            try:
                node.connection()
                reachable = True
            except SilvereyeError as e:
                reachable = False
                s.note(f"node {name} does not answer ({e}); its instances and network are left there")
            running = [i for i in instances_of_this_cloud(driver) if i.node == name] if reachable else []
            if running and not force:
                ids = ", ".join(i.instance_id for i in running)
                raise SilvereyeError(f"node {name} runs {len(running)} instances of this cloud ({ids}); terminate them "
                                     "first, or pass --force to terminate them with the node")
            for i in running:
                driver.terminate(i.instance_id)
                s.changed(f"terminated {i.instance_id}")
            if running:
                cloudsetup.forget_instance_logs(node.host, driver.instances_path)
            for entry in [e for e in manifest.of_kind("libvirt-network") if e.get("uri") == node.uri]:
                if reachable:
                    s.changed(*cloudsetup.remove_network(entry, driver, node))
                manifest.forget("libvirt-network", entry["name"])
    finally:
        driver.close()
    with p.step("trust and registration") as s:
        entry = manifest.find("node", name)
        if entry is not None:
            s.changed(*revoke_trust(entry, layout, s))
            for line in [e for e in manifest.of_kind("line") if e.get("node") == name]:
                if not line.get("existed") and remove_line(Path(line["path"]), line["line"]):
                    s.changed(f"took node {name}'s host key out of {line['path']}")
                manifest.forget("line", f"{line['path']}\0{line['line']}")
            manifest.forget("node", name)
        nodes = [{"name": n.name, "uri": n.uri} for n in cfg.compute.nodes if n.name != name]
        cfg = write_nodes(cfg, layout, manifest, nodes, s)
        _restart_service(manifest, layout, cfg, s)
    p.say(f"\nNode {name} is removed; no instance will be placed on it.", style="bold green")
