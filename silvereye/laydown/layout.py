"""Where an installation puts things on the host, in one value.

Every path ``silvereye install`` writes, and ``status`` and ``uninstall``
later read, comes from a :class:`Layout`: the configuration file, the data
and log directories (from the configuration), the host files under /etc and
/run, and the user's own files (credentials, ~/.aws, ~/.ssh). ``root``
prefixes the host files, so a test can lay a whole installation down inside
a temporary directory; on a real host it is ``/``. The layout is saved in the
manifest, so teardown finds exactly what install used.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from silvereye.config import DEFAULT_PATH, Config
from silvereye.preflight.fixes import SYSCTL_FILE

UNIT_NAME = "silvereye.service"
SERVICE_LOG = "silvereye.log"
INSTALL_LOG = "install.log"


@dataclass(frozen=True)
class Layout:
    root: Path
    config_path: Path
    data_dir: Path
    log_dir: Path
    home: Path
    aws_config: Path
    aws_credentials: Path

    @classmethod
    def for_host(cls, cfg: Config, config_path: Path | None = None, root: Path = Path("/"),
                 home: Path | None = None) -> "Layout":
        """The layout for ``cfg`` (``root`` prefixes /etc and /run; ``home`` defaults to $HOME)."""
        root = Path(root)
        home = Path(home) if home is not None else Path.home()
        config_path = Path(config_path) if config_path is not None else root / str(DEFAULT_PATH).lstrip("/")
        aws_dir = home / ".aws"
        return cls(
            root=root,
            config_path=config_path.absolute(),
            data_dir=Path(cfg.data_dir).absolute(),
            log_dir=Path(cfg.log_dir).absolute(),
            home=home.absolute(),
            aws_config=Path(os.environ.get("AWS_CONFIG_FILE") or aws_dir / "config").absolute(),
            aws_credentials=Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or aws_dir / "credentials").absolute(),
        )

    def host_path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    # -- silvereye's own state ------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.data_dir / "install"

    @property
    def manifest_path(self) -> Path:
        return self.state_dir / "manifest.json"

    @property
    def backup_dir(self) -> Path:
        return self.state_dir / "backup"

    @property
    def ssh_dir(self) -> Path:
        return self.data_dir / "ssh"

    @property
    def ssh_key(self) -> Path:
        """The key the frontend's libvirt uses for qemu+ssh to the nodes."""
        return self.ssh_dir / "id_ed25519"

    # -- the service ------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.host_path("/run/silvereye")

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "silvereye.pid"

    @property
    def service_log(self) -> Path:
        return self.log_dir / SERVICE_LOG

    @property
    def install_log(self) -> Path:
        return self.log_dir / INSTALL_LOG

    @property
    def unit_file(self) -> Path:
        return self.host_path(f"/etc/systemd/system/{UNIT_NAME}")

    @property
    def systemd_running(self) -> bool:
        """systemd is PID 1 (its own test, sd_booted: /run/systemd/system exists)."""
        return self.root == Path("/") and Path("/run/systemd/system").is_dir()

    # -- host settings --------------------------------------------------------
    @property
    def sysctl_file(self) -> Path:
        return self.host_path(SYSCTL_FILE)

    @property
    def logrotate_file(self) -> Path:
        return self.host_path("/etc/logrotate.d/silvereye")

    # -- the administrator's files ---------------------------------------------
    @property
    def credentials_dir(self) -> Path:
        return self.home / ".silvereye"

    @property
    def eucarc(self) -> Path:
        return self.credentials_dir / "eucarc"

    @property
    def known_hosts(self) -> Path:
        """The known_hosts OpenSSH reads (libvirt's qemu+ssh runs ssh): under the account's home
        directory from the password database, which ssh uses whatever $HOME says."""
        return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "known_hosts"

    def to_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Layout":
        return cls(**{k: Path(data[k]) for k in cls.__dataclass_fields__})
