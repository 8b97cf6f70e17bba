"""A remote node reached over SSH (paramiko), read through the same interface as the local host.

Commands travel as one string (SSH has no argument vector), so each argument
is quoted with :func:`shlex.quote`; nothing the user typed is ever pasted in
unquoted. Files are read, stat'ed and written over SFTP.

Host keys follow OpenSSH's ``StrictHostKeyChecking=accept-new``: a host seen
for the first time is remembered in ``~/.ssh/known_hosts``; a host whose key
changed is refused with one line saying how to clear the old key.
"""

from __future__ import annotations

import logging
import os
import re
import select
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import paramiko

from silvereye.preflight.host import RC_TIMEOUT, SEARCH_PATH, CommandResult, Host, HostError, PathStat

# paramiko logs a transport thread's failures with a traceback; the one line we raise says it all.
_log = logging.getLogger("paramiko")
_log.addHandler(logging.NullHandler())
_log.propagate = False

_TARGET = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class SSHTarget:
    user: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH names this host in known_hosts."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def parse_target(text: str) -> SSHTarget:
    """``root@node2:2222`` -> SSHTarget; the user defaults to root and the port to 22."""
    m = _TARGET.match(text.strip())
    port = int(m.group("port")) if m and m.group("port") else 22
    if not m or not 1 <= port <= 65535:
        raise HostError(f"--host {text!r} is not valid: expected [USER@]HOST[:PORT], e.g. root@node1 or root@node2:2222")
    return SSHTarget(m.group("user") or "root", m.group("v6") or m.group("host"), port)


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}" if hasattr(key, "fingerprint") else key.get_name()


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Remember an unknown host's key (one appended line), as ssh's accept-new does."""

    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        try:
            self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(self.known_hosts, "a") as f:
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        except OSError:
            pass  # read-only home: the key is still trusted for this run, as ssh does


class SSHHost(Host):
    def __init__(
        self,
        target: SSHTarget,
        key_file: Path | None = None,
        *,
        connect_timeout: float = 10.0,
        known_hosts: Path | None = None,
    ):
        self.target = target
        self.name = str(target)
        self.key_file = key_file
        self.connect_timeout = connect_timeout
        self.known_hosts = known_hosts or Path(os.path.expanduser("~/.ssh/known_hosts"))
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # -- connection ---------------------------------------------------------

    def connect(self) -> "SSHHost":
        """Open the session; every way this can fail is one HostError line naming the host."""
        client = paramiko.SSHClient()
        for path in (Path("/etc/ssh/ssh_known_hosts"), self.known_hosts):
            if path.exists():
                try:
                    client.load_system_host_keys(str(path))
                except (OSError, paramiko.SSHException):
                    raise HostError(f"{self.name}: cannot read {path}; fix or remove the broken line") from None
        client.set_missing_host_key_policy(_AcceptNew(self.known_hosts))
        t = self.target
        kwargs: dict = dict(
            hostname=t.host,
            port=t.port,
            username=t.user,
            timeout=self.connect_timeout,
            banner_timeout=self.connect_timeout,
            auth_timeout=self.connect_timeout,
        )
        if self.key_file is not None:
            kwargs.update(key_filename=str(self.key_file), allow_agent=False, look_for_keys=False)
        try:
            client.connect(**kwargs)
        except paramiko.BadHostKeyException as e:
            raise HostError(
                f"{self.name}: the host key has CHANGED (now {_fingerprint(e.key)}, "
                f"{self.known_hosts} has {_fingerprint(e.expected_key)}); if the host was reinstalled, "
                f"remove the old key with: ssh-keygen -f {self.known_hosts} -R '{t.known_hosts_name}'"
            ) from None
        except paramiko.PasswordRequiredException:
            raise HostError(
                f"{self.name}: the key {self.key_file} is protected by a passphrase; "
                "load it into ssh-agent (ssh-add) and leave out --ssh-key"
            ) from None
        except paramiko.AuthenticationException:
            which = f"the key {self.key_file}" if self.key_file else "every key offered (ssh-agent, ~/.ssh/id_*)"
            raise HostError(
                f"{self.name}: the server refused {which}; add the public key to "
                f"~{t.user}/.ssh/authorized_keys there, or pass the right one with --ssh-key"
            ) from None
        except (socket.timeout, TimeoutError):
            raise HostError(f"{self.name}: no answer within {self.connect_timeout:g} s; is the host up and the port right?") from None
        except paramiko.ssh_exception.NoValidConnectionsError as e:
            reason = next(iter(e.errors.values()), e)
            raise HostError(f"{self.name}: cannot connect ({_reason(reason)}); is sshd running and the port right?") from None
        except socket.gaierror as e:
            raise HostError(f"{self.name}: cannot resolve {t.host} ({e.strerror}); check the name") from None
        except FileNotFoundError:
            raise HostError(f"{self.name}: the key file {self.key_file} does not exist") from None
        except paramiko.SSHException as e:
            raise HostError(f"{self.name}: SSH failed ({e}); is this an SSH server?") from None
        except OSError as e:
            raise HostError(f"{self.name}: cannot connect ({_reason(e)})") from None
        self._client = client
        return self

    def _transport(self) -> paramiko.Transport:
        if self._client is None:
            self.connect()
        transport = self._client.get_transport() if self._client else None
        if transport is None or not transport.is_active():
            raise HostError(f"{self.name}: the SSH connection was lost")
        return transport

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = paramiko.SFTPClient.from_transport(self._transport())
            except paramiko.SSHException as e:
                raise HostError(f"{self.name}: SFTP is not available ({e}); enable the sftp subsystem in sshd_config") from None
        return self._sftp

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- Host ---------------------------------------------------------------

    def run(self, argv: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        command = f"PATH={SEARCH_PATH}; LC_ALL=C; export PATH LC_ALL; exec {shlex.join(argv)}"
        try:
            chan = self._transport().open_session(timeout=self.connect_timeout)
            chan.exec_command(command)
            chan.shutdown_write()
        except paramiko.SSHException as e:
            raise HostError(f"{self.name}: cannot run {argv[0]} ({e})") from None
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return CommandResult(RC_TIMEOUT, out.decode(errors="replace"), f"{argv[0]}: timed out after {timeout:g} s")
                select.select([chan], [], [], min(left, 0.5))
            rc = chan.recv_exit_status()
        finally:
            chan.close()
        return CommandResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def read_file(self, path: str) -> str | None:
        try:
            with self._sftp_client().open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return None

    def stat(self, path: str) -> PathStat | None:
        try:
            st = self._sftp_client().stat(path)
        except OSError:
            return None
        return PathStat(st.st_mode or 0, st.st_uid or 0, st.st_gid or 0, st.st_size or 0)

    def listdir(self, path: str) -> list[str] | None:
        try:
            return sorted(self._sftp_client().listdir(path))
        except OSError:
            return None

    def environ(self) -> dict[str, str]:
        r = self.run(["env", "-0"])
        return dict(item.split("=", 1) for item in r.stdout.split("\0") if "=" in item)

    def write_file(self, path: str, text: str, mode: int = 0o644) -> None:
        sftp = self._sftp_client()
        tmp = f"{os.path.dirname(path) or '.'}/.silvereye-{os.getpid()}-{time.monotonic_ns()}"
        with sftp.open(tmp, "w") as f:
            f.write(text.encode())
        sftp.chmod(tmp, mode)
        try:
            sftp.posix_rename(tmp, path)
        except OSError:
            # SFTP reports no errno; a bind-mounted target (/etc/hosts in a container) is the usual cause.
            sftp.remove(tmp)
            with sftp.open(path, "w") as f:
                f.write(text.encode())

    def put_file(self, local: Path, path: str) -> None:
        self._sftp_client().put(str(local), path)


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
