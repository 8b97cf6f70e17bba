"""Files and tools on a node: the local host directly, another node over SSH.

An instance's disk and console live on the node that runs it. For the local
node (``qemu:///system``, ``test:///default``) that is this machine; for an
extra node (``qemu+ssh://root@node1/system``) every file operation and every
``qemu-img`` run goes over the same SSH the libvirt URI names. Callers never
pass user strings here: paths are made by the driver from validated ids.
Remote commands are argument lists quoted one by one, never a shell string
built from values.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from silvereye.compute.errors import ComputeError, NodeUnavailable


@dataclass(frozen=True)
class DiskSpace:
    total: int
    free: int


class LocalHost:
    """This machine."""

    description = "this host"

    def run(self, argv: list[str], *, timeout: float = 600) -> str:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise ComputeError(f"'{argv[0]}' is not installed on {self.description}; install it") from None
        except subprocess.TimeoutExpired:
            raise ComputeError(f"'{argv[0]}' did not finish within {timeout:.0f} s on {self.description}") from None
        if r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ComputeError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} failed on {self.description}: {tail}")
        return r.stdout

    def makedirs(self, path: Path, mode: int = 0o755) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)

    def remove_tree(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def exists(self, path: Path) -> bool:
        return path.exists()

    def size(self, path: Path) -> int | None:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return None

    def read_range(self, path: Path, offset: int, limit: int) -> bytes:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""

    def disk_space(self, path: Path) -> DiskSpace:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = shutil.disk_usage(probe)
        return DiskSpace(usage.total, usage.free)

    def list_dir(self, path: Path) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def ensure_copy(self, local: Path, dest: Path) -> None:
        """Nothing to copy: the node's files are this host's files."""
        if local != dest:
            raise ComputeError(f"the local node keeps images at {local}, not {dest}")


class SshHost:
    """Another node, reached with the SSH user, host, port and key of its libvirt URI."""

    def __init__(self, user: str, host: str, port: int | None = None, keyfile: str | None = None,
                 verify_host_key: bool = True):
        self.user, self.host, self.port, self.keyfile = user, host, port, keyfile
        self.verify_host_key = verify_host_key
        self.description = f"node {host}"

    def _ssh(self) -> list[str]:
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if self.verify_host_key:
            argv += ["-o", "StrictHostKeyChecking=accept-new"]  # like libvirt's own first contact
        else:  # the URI said no_verify=1
            argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.keyfile:
            argv += ["-i", self.keyfile]
        return argv + ["--", f"{self.user}@{self.host}" if self.user else self.host]

    def _remote(self, argv: list[str], *, timeout: float = 600, stdin: bytes | None = None, binary: bool = False):
        command = " ".join(shlex.quote(a) for a in argv)
        try:
            r = subprocess.run(self._ssh() + [command], capture_output=True, input=stdin, timeout=timeout)
        except FileNotFoundError:
            raise ComputeError("the ssh client is not installed; install openssh-client") from None
        except subprocess.TimeoutExpired:
            raise NodeUnavailable(f"{self.description} did not answer over SSH within {timeout:.0f} s") from None
        if r.returncode == 255:
            tail = (r.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            raise NodeUnavailable(f"cannot reach {self.description} over SSH: {tail}")
        if r.returncode != 0:
            tail = (r.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            raise ComputeError(f"{argv[0]} failed on {self.description}: {tail}")
        return r.stdout if binary else r.stdout.decode(errors="replace")

    def run(self, argv: list[str], *, timeout: float = 600) -> str:
        return self._remote(argv, timeout=timeout)

    def makedirs(self, path: Path, mode: int = 0o755) -> None:
        self._remote(["mkdir", "-p", "-m", f"{mode:o}", str(path)])
        self._remote(["chmod", f"{mode:o}", str(path)])

    def remove_tree(self, path: Path) -> None:
        self._remote(["rm", "-rf", "--one-file-system", str(path)])

    def exists(self, path: Path) -> bool:
        return self._remote(["sh", "-c", 'test -e "$1" && echo yes || echo no', "-", str(path)]).strip() == "yes"

    def size(self, path: Path) -> int | None:
        out = self._remote(["sh", "-c", 'stat -c %s "$1" 2>/dev/null || true', "-", str(path)]).strip()
        return int(out) if out.isdigit() else None

    def read_range(self, path: Path, offset: int, limit: int) -> bytes:
        script = 'test -e "$1" || exit 0; tail -c +"$2" "$1" | head -c "$3"'
        return self._remote(["sh", "-c", script, "-", str(path), str(offset + 1), str(limit)], binary=True)

    def disk_space(self, path: Path) -> DiskSpace:
        script = 'p="$1"; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -P -B1 "$p" | tail -n 1'
        fields = self._remote(["sh", "-c", script, "-", str(path)]).split()
        return DiskSpace(int(fields[1]), int(fields[3]))

    def list_dir(self, path: Path) -> list[str]:
        out = self._remote(["sh", "-c", 'test -d "$1" && ls -1 "$1" || true', "-", str(path)])
        return sorted(line for line in out.splitlines() if line)

    def ensure_copy(self, local: Path, dest: Path) -> None:
        """Copy a cached base image to the node once (content-addressed names never change)."""
        if self.exists(dest):
            return
        self.makedirs(dest.parent)
        tmp = f"{dest}.part"
        with open(local, "rb") as f:
            command = " ".join(shlex.quote(a) for a in ["sh", "-c", 'cat > "$1" && mv -f "$1" "$2"', "-", tmp, str(dest)])
            r = subprocess.run(self._ssh() + [command], stdin=f, capture_output=True)
        if r.returncode != 0:
            tail = (r.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            raise NodeUnavailable(f"cannot copy {local.name} to {self.description}: {tail}")


Host = LocalHost | SshHost


def host_for_uri(uri: str) -> Host:
    """The host a libvirt URI's files live on: local without a host part, SSH with one."""
    parts = urllib.parse.urlsplit(uri)
    transport = parts.scheme.partition("+")[2]
    if not parts.hostname:
        return LocalHost()
    if transport != "ssh":
        raise ComputeError(f"node URI {uri}: only local URIs and qemu+ssh:// are supported for nodes")
    query = urllib.parse.parse_qs(parts.query)
    keyfile = query.get("keyfile", [None])[0]
    verify = query.get("no_verify", ["0"])[0] != "1"
    return SshHost(parts.username or "root", parts.hostname, parts.port, keyfile, verify)
