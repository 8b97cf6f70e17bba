"""``silvereye uninstall``: take down what install (and node add) put on the host, from the manifest.

In order: the service stops (nothing may recreate what is being removed);
the instances of this cloud are terminated on every node (only domains whose
instance directory lies under this installation's instances directory, so
another cloud on the same libvirt is never touched); the instance network
and the metadata redirect go from every node; the nodes' trust in this
frontend's key is withdrawn; then every recorded file, section, line and
directory is undone newest first (files that existed before are restored
from their backup copies), kernel settings go back to their old values, and
the data directory is removed unless ``--keep-data``. OS packages stay: other
software may use QEMU or libvirt; the summary names the ones install added.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from silvereye import config as config_mod
from silvereye.config import Config
from silvereye.errors import SilvereyeError
from silvereye.laydown import cloudsetup
from silvereye.laydown import service as service_mod
from silvereye.laydown.hostfiles import remove_ini_section, remove_line
from silvereye.laydown.layout import Layout
from silvereye.laydown.manifest import Manifest, sha256_file
from silvereye.laydown.progress import Progress, Step


def find_manifest(cfg: Config) -> Manifest:
    path = Layout.for_host(cfg).manifest_path
    manifest = Manifest.load(path)
    if manifest is None:
        raise SilvereyeError(f"there is no silvereye installation to remove: no manifest at {path} "
                             "(with another configuration, pass its --config)")
    return manifest


def instances_of_this_cloud(driver: Any, attempts: int = 3) -> list[Any]:
    """The driver's instances whose directories live under this installation's instances directory."""
    for attempt in range(attempts):
        try:
            listed = driver.list_instances()
            break
        except SilvereyeError:
            if attempt == attempts - 1:  # a domain that vanished while being listed: list again
                raise
    out = []
    for info in listed:
        try:
            node = driver.node(info.node)
            if node.host.exists(driver.instance_dir(info.instance_id)):
                out.append(info)
        except SilvereyeError:
            continue
    return out


class Uninstaller:
    def __init__(self, cfg: Config, manifest: Manifest, keep_data: bool, console: Console):
        self.cfg = cfg
        self.manifest = manifest
        self.layout = Layout.from_dict(manifest.layout)
        self.keep_data = keep_data
        self.progress = Progress(console)

    def run(self) -> None:
        p = self.progress
        p.say(f"Removing silvereye ({self.manifest.role}) from this host" + (", keeping the data" if self.keep_data else ""),
              style="bold")
        with p.step("service") as s:
            self.stop_service(s)
        if self.manifest.of_kind("libvirt-network") or self.manifest.of_kind("node"):
            with p.step("instances and network") as s:
                self.compute_teardown(s)
        if self.manifest.of_kind("node"):
            with p.step("nodes") as s:
                self.release_nodes(s)
        with p.step("files") as s:
            self.undo_entries(s)
        with p.step("data") as s:
            self.remove_state(s)
        packages = [e["name"] for e in self.manifest.of_kind("package")]
        p.say("\nsilvereye is removed from this host.", style="bold green")
        if packages:
            tool = "apt-get remove" if self.manifest.of_kind("package")[0].get("manager") == "apt" else "dnf remove"
            p.say(f"  OS packages install added are still installed (other software may use them): {' '.join(packages)}")
            p.say(f"  to remove them as well: {tool} {' '.join(packages)}")

    # -- steps ----------------------------------------------------------------------
    def stop_service(self, s: Step) -> None:
        kinds = self.manifest.of_kind("service")
        if not kinds:
            s.detail("no service was installed")
            return
        svc = service_mod.for_layout(self.layout, kinds[0].get("manager"))
        if svc.stop():
            s.changed(f"stopped the service ({svc.kind})")
        s.detail("stopped")

    def compute_teardown(self, s: Step) -> None:
        """This cloud's instances, then its networks and the metadata redirect, on the nodes the manifest names."""
        driver = cloudsetup.compute_driver(self.cfg)
        uris = {e["uri"] for e in self.manifest.of_kind("libvirt-network") + self.manifest.of_kind("node")}
        try:
            for node in list(driver.nodes):
                if node.uri not in uris:
                    driver.nodes.remove(node)
                    continue
                try:
                    node.connection()
                except SilvereyeError as e:
                    s.note(f"node {node.name} does not answer ({e}); its instances and network are left there")
                    driver.nodes.remove(node)
            for info in instances_of_this_cloud(driver):
                driver.terminate(info.instance_id)
                s.changed(f"terminated {info.instance_id} on node {info.node}")
            for node in driver.nodes:
                logs = cloudsetup.forget_instance_logs(node.host, driver.instances_path)
                if logs:
                    s.changed(f"removed libvirt's QEMU logs of {len(logs)} instances of this cloud on node {node.name}")
            reachable = {n.uri: n for n in driver.nodes}
            for entry in self.manifest.of_kind("libvirt-network"):
                if entry["uri"] in reachable:
                    s.changed(*cloudsetup.remove_network(entry, driver, reachable[entry["uri"]]))
            redirect = driver.metadata_redirect
            if self.manifest.find("nft-table", redirect.table) is not None and redirect.installed():
                redirect.remove()
                s.changed(f"removed nftables table ip {redirect.table}")
            self.firewall_teardown(s, driver)
        finally:
            driver.close()

    def firewall_teardown(self, s: Step, driver) -> None:
        """The security-group and elastic-IP rules the running service installed (not in the manifest:
        the service makes them as users ask), found by the names silvereye gives them."""
        from silvereye.compute.elastic_ips import ElasticIPs
        from silvereye.compute.security_groups import SecurityGroupFirewall

        parts = [SecurityGroupFirewall.for_driver(driver)]
        if self.cfg.network.public_range:
            parts.append(ElasticIPs.for_driver(driver))
        for part in parts:
            was_there = part.installed()
            part.teardown()  # idempotent; also drops addresses and the iptables chain of elastic IPs
            if was_there:
                s.changed(f"removed nftables table ip {part.table}")

    def release_nodes(self, s: Step) -> None:
        from silvereye.laydown import nodes

        for entry in self.manifest.of_kind("node"):
            s.changed(*nodes.revoke_trust(entry, self.layout, s))

    def undo_entries(self, s: Step) -> None:
        own_dirs = {str(self.layout.data_dir), str(self.layout.log_dir)}
        for e in self.manifest.newest_first():
            kind = e["kind"]
            if kind == "file":
                s.changed(*_undo_file(e))
            elif kind == "ini-section":
                s.changed(*_undo_section(e))
            elif kind == "line" and not e.get("existed") and remove_line(Path(e["path"]), e["line"]):
                s.changed(f"took silvereye's line out of {e['path']}")
            elif kind == "sysctl" and e.get("before") not in (None, ""):
                cloudsetup.set_ip_forwarding(e["before"])
                s.changed(f"set {e['name']} back to {e['before']}")
            elif kind == "dir" and e["path"] not in own_dirs and not e.get("existed"):
                try:
                    os.rmdir(e["path"])  # only when empty: someone else's files keep it
                    s.changed(f"removed {e['path']}")
                except OSError:
                    pass  # not empty: files someone else put there keep it

    def remove_state(self, s: Step) -> None:
        dirs = {e["path"]: e for e in self.manifest.of_kind("dir")}
        log_dir = str(self.layout.log_dir)
        s.changed(*_remove_own_dir(dirs.get(log_dir), log_dir))
        data_dir = str(self.layout.data_dir)
        if self.keep_data:
            shutil.rmtree(self.layout.state_dir, ignore_errors=True)
            s.detail(f"kept {data_dir}")
            return
        s.changed(*_remove_own_dir(dirs.get(data_dir), data_dir))
        shutil.rmtree(self.layout.state_dir, ignore_errors=True)


def _undo_file(e: dict[str, Any]) -> list[str]:
    path = Path(e["path"])
    if e.get("existed") and e.get("backup"):
        backup = Path(e["backup"])
        try:
            data = backup.read_bytes()
        except OSError:
            return [f"could not restore {path}: its backup {backup} is gone"]
        path.write_bytes(data)
        os.chmod(path, int(e.get("backup_mode", "0o644"), 8))
        return [f"restored {path} as it was before silvereye"]
    if not path.exists():
        return []
    edited = sha256_file(path) != e.get("sha256")
    path.unlink()
    return [f"removed {path}" + (" (edited since install)" if edited else "")]


def _undo_section(e: dict[str, Any]) -> list[str]:
    path = Path(e["path"])
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    before = e.get("before")
    if before is not None:
        from silvereye.laydown.hostfiles import set_ini_section

        updated = set_ini_section(text, e["section"], before)
    else:
        updated = remove_ini_section(text, e["section"])
    if not updated.strip() and not e.get("existed"):
        path.unlink()
        return [f"removed {path}"]
    if updated != text:
        path.write_text(updated)
        return [f"took [{e['section']}] out of {path}" if before is None else f"restored [{e['section']}] in {path}"]
    return []


def _remove_own_dir(entry: dict[str, Any] | None, path: str) -> list[str]:
    """Remove a directory silvereye made, or what silvereye added to one that was there before."""
    p = Path(path)
    if not p.exists():
        return []
    if entry is None or not entry.get("existed"):
        shutil.rmtree(p)
        return [f"removed {p}"]
    keep = set(entry.get("preexisting", []))
    removed = []
    for child in p.iterdir():
        if child.name not in keep:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            removed.append(str(child))
    return [f"removed {len(removed)} entries silvereye added to {p}"] if removed else []


def uninstall(config: Path | None, *, keep_data: bool = False, assume_yes: bool = False, interactive: bool = False,
              console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    cfg = config_mod.load(config)
    manifest = find_manifest(cfg)
    if not assume_yes:
        if not interactive:
            raise SilvereyeError("uninstall removes this cloud's instances, network and files; pass --yes to confirm")
        from rich.prompt import Confirm

        what = "its files" if keep_data else "its data"
        if not Confirm.ask(f"Remove silvereye, its instances, network and {what} from this host?", console=console):
            raise SilvereyeError("uninstall cancelled; nothing was changed")
    Uninstaller(cfg, manifest, keep_data, console).run()
