"""The one typed configuration of a silvereye host.

Everything a component needs to know about the host lives here, loaded from
YAML (``/etc/silvereye/silvereye.yaml`` by default, ``--config PATH`` or
``$SILVEREYE_CONFIG`` otherwise). Every key has a documented default, so an
empty file (or no file at all) is a valid configuration for a cloud-in-a-box.

A bad file never produces a traceback: :func:`load` raises
:class:`~silvereye.errors.SilvereyeError` with one line that names the key,
the value found and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from silvereye.errors import SilvereyeError

DEFAULT_PATH = Path("/etc/silvereye/silvereye.yaml")
ENV_VAR = "SILVEREYE_CONFIG"


def _doc(text: str, **kw: Any) -> dict[str, Any]:
    return {"doc": text, **kw}


@dataclass
class ApiConfig:
    listen: str = field(default="0.0.0.0", metadata=_doc("Address the API listener binds to.", kind="ip"))
    port: int = field(default=8773, metadata=_doc("Port of the one listener serving every AWS service.", kind="port"))
    tls: bool = field(default=False, metadata=_doc("Serve HTTPS; a self-signed certificate is generated on first start."))
    public_host: str = field(
        default="",
        metadata=_doc("Host name or address clients use to reach the API; empty means the primary interface's address."),
    )
    clock_skew_seconds: int = field(
        default=900, metadata=_doc("Largest difference allowed between a request's signing time and ours.", min=0)
    )
    workers_threads: int = field(default=16, metadata=_doc("Threads serving blocking handler work.", min=1, max=256))


@dataclass
class StoreConfig:
    url: str = field(
        default="",
        metadata=_doc(
            "Database URL: empty for SQLite at <data_dir>/silvereye.db, or postgresql://user:pass@host/db "
            "so several frontends can share one database."
        ),
    )


@dataclass
class NodeConfig:
    name: str = field(default="", metadata=_doc("Short name of the node.", required=True))
    uri: str = field(default="", metadata=_doc("libvirt URI of the node, e.g. qemu+ssh://root@node1/system.", required=True))


@dataclass
class ComputeConfig:
    libvirt_uri: str = field(default="qemu:///system", metadata=_doc("libvirt URI of the local node."))
    domain_type: Literal["auto", "kvm", "qemu"] = field(
        default="auto",
        metadata=_doc("Hypervisor: 'auto' boots a probe guest to decide; 'qemu' is software emulation (TCG)."),
    )
    nodes: list[NodeConfig] = field(
        default_factory=list, metadata=_doc("Extra node controllers (the local node is always used).")
    )
    instances_dir: str = field(default="", metadata=_doc("Instance disks and consoles; empty means <data_dir>/instances."))
    images_dir: str = field(default="", metadata=_doc("Cached base images; empty means <data_dir>/images."))
    volumes_dir: str = field(default="", metadata=_doc("EBS volumes; empty means <data_dir>/volumes."))


@dataclass
class NetworkConfig:
    name: str = field(default="silvereye", metadata=_doc("Name of the libvirt network silvereye owns."))
    bridge: str = field(default="sebr0", metadata=_doc("Bridge device of that network.", kind="ifname"))
    subnet: str = field(
        default="172.31.0.0/20",
        metadata=_doc("Private subnet of the instances (presented as the default VPC's subnet).", kind="cidr"),
    )
    interface: str = field(
        default="", metadata=_doc("Host interface facing the outside world; empty means the default route's.")
    )
    public_range: str = field(
        default="",
        metadata=_doc(
            "Elastic IP addresses: a CIDR or 'first-last' range on the interface's subnet; empty disables elastic IPs.",
            kind="iprange",
        ),
    )
    metadata_port: int = field(
        default=8775, metadata=_doc("Port of the instance metadata listener (169.254.169.254:80 is DNAT'd to it).", kind="port")
    )
    ntp_server: str = field(default="pool.ntp.org", metadata=_doc("NTP server the host and instances use."))


@dataclass
class Config:
    region: str = field(default="silvereye-1", metadata=_doc("Region name clients use.", pattern=r"^[a-z0-9-]{1,32}$"))
    availability_zones: list[str] = field(
        default_factory=lambda: ["silvereye-1a"], metadata=_doc("Availability zones (one per node group).")
    )
    dns_domain: str = field(
        default="silvereye.internal",
        metadata=_doc("DNS domain of the cloud; S3 virtual hosts are <bucket>.s3.<dns_domain>."),
    )
    data_dir: str = field(default="/var/lib/silvereye", metadata=_doc("Where state, objects, images and disks live."))
    log_dir: str = field(default="/var/log/silvereye", metadata=_doc("Where logs are written."))
    api: ApiConfig = field(default_factory=ApiConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)

    # Where this configuration came from (None: built-in defaults).
    source: str | None = field(default=None, metadata=_doc("", internal=True))

    # -- derived paths -----------------------------------------------------
    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def instances_path(self) -> Path:
        return Path(self.compute.instances_dir or os.path.join(self.data_dir, "instances"))

    @property
    def images_path(self) -> Path:
        return Path(self.compute.images_dir or os.path.join(self.data_dir, "images"))

    @property
    def volumes_path(self) -> Path:
        return Path(self.compute.volumes_dir or os.path.join(self.data_dir, "volumes"))

    @property
    def objects_path(self) -> Path:
        return Path(self.data_dir) / "objects"

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{os.path.join(self.data_dir, 'silvereye.db')}"

    @property
    def api_ports(self) -> list[int]:
        """Every TCP port silvereye listens on (preflight checks they are free)."""
        return [self.api.port, self.network.metadata_port]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source", None)
        return d


# ---------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------


class ConfigError(SilvereyeError):
    pass


def _fail(source: str, key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"config {source}: {key}: {value!r} is not valid: expected {expected}")


def _check_kind(source: str, key: str, value: Any, meta: dict[str, Any]) -> None:
    kind = meta.get("kind")
    if kind == "port" and not (1 <= value <= 65535):
        raise _fail(source, key, value, "a port number from 1 to 65535")
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise _fail(source, key, value, "an IP address such as 0.0.0.0") from None
    if kind == "cidr":
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError:
            raise _fail(source, key, value, "an IPv4 network in CIDR form such as 172.31.0.0/20") from None
    if kind == "iprange" and value:
        try:
            parse_ip_range(value)
        except ValueError:
            raise _fail(
                source, key, value, "a CIDR (192.168.1.224/28) or a range (192.168.1.200-192.168.1.220)"
            ) from None
    if kind == "ifname" and not (1 <= len(value) <= 15 and all(c.isalnum() or c in "-_." for c in value)):
        raise _fail(source, key, value, "an interface name of 1 to 15 letters, digits, '-', '_' or '.'")
    if "min" in meta and value < meta["min"]:
        raise _fail(source, key, value, f"a number of at least {meta['min']}")
    if "max" in meta and value > meta["max"]:
        raise _fail(source, key, value, f"a number of at most {meta['max']}")
    if "pattern" in meta:
        import re

        if not re.fullmatch(meta["pattern"], value):
            raise _fail(source, key, value, f"a value matching {meta['pattern']}")


def parse_ip_range(text: str) -> list[ipaddress.IPv4Address]:
    """Expand 'a.b.c.d/nn' or 'first-last' into its host addresses (ValueError if malformed)."""
    text = text.strip()
    if "-" in text:
        first_s, last_s = (p.strip() for p in text.split("-", 1))
        first, last = ipaddress.IPv4Address(first_s), ipaddress.IPv4Address(last_s)
        if last < first:
            raise ValueError("range ends before it starts")
        if int(last) - int(first) > 65535:
            raise ValueError("range too large")
        return [ipaddress.IPv4Address(i) for i in range(int(first), int(last) + 1)]
    net = ipaddress.IPv4Network(text, strict=False)
    if net.num_addresses > 65536:
        raise ValueError("range too large")
    hosts = list(net.hosts()) if net.prefixlen < 31 else list(net)
    return hosts


def _convert(source: str, key: str, tp: Any, value: Any, meta: dict[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(source, key, value, "a mapping of settings")
        return _build(source, tp, value, key + ".")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise _fail(source, key, value, "one of " + ", ".join(repr(c) for c in choices))
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _fail(source, key, value, "a list")
        return [_convert(source, f"{key}[{i}]", item_tp, v, {}) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(source, key, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, key, value, "an integer" + (" from 1 to 65535" if meta.get("kind") == "port" else ""))
        _check_kind(source, key, value, meta)
        return value
    if tp is str:
        if value is None:
            value = ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise _fail(source, key, value, "a string")
        _check_kind(source, key, value, meta)
        return value
    raise TypeError(f"config field {key} has an unsupported type {tp!r}")  # a bug in this module


def _build(source: str, cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for k in data:
        if k not in fields:
            close = difflib.get_close_matches(str(k), list(fields), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"config {source}: unknown key '{prefix}{k}'{hint}")
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        if name in data:
            kwargs[name] = _convert(source, key, hints[name], data[name], dict(f.metadata))
        elif f.metadata.get("required"):
            raise ConfigError(f"config {source}: {key} is missing: expected {f.metadata.get('doc', 'a value')}")
    return cls(**kwargs)


def from_dict(data: dict[str, Any] | None, source: str = "<dict>") -> Config:
    """Build and validate a configuration from a plain mapping."""
    cfg = _build(source, Config, data or {})
    _check_cross_fields(cfg, source)
    cfg.source = source
    return cfg


def _check_cross_fields(cfg: Config, source: str) -> None:
    if not cfg.availability_zones:
        raise _fail(source, "availability_zones", [], "at least one zone name")
    if cfg.api.port == cfg.network.metadata_port:
        raise _fail(source, "network.metadata_port", cfg.network.metadata_port, "a port other than api.port")
    seen = set()
    for i, node in enumerate(cfg.compute.nodes):
        if node.name in seen:
            raise _fail(source, f"compute.nodes[{i}].name", node.name, "a name not used by another node")
        seen.add(node.name)


def resolve_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Which file to read: --config, then $SILVEREYE_CONFIG, then the default if it exists."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    if DEFAULT_PATH.exists():
        return DEFAULT_PATH
    return None


def read_yaml(p: Path, what: str, error: type[SilvereyeError], missing_hint: str) -> Any:
    """A YAML file's data; '<what> <path>[ line N]: ...' in one line when absent, unreadable or not YAML."""
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise error(f"{what} {p}: file not found; {missing_hint}") from None
    except OSError as e:
        raise error(f"{what} {p}: cannot read it ({e.strerror}); check its permissions") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise error(f"{what} {p}{where}: not valid YAML ({problem})") from None


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the configuration; defaults when no file is named and the default file is absent."""
    p = resolve_path(path)
    if p is None:
        return from_dict({}, source="(built-in defaults)")
    data = read_yaml(p, "config", ConfigError, "create it or pass --config PATH")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {p}: expected a mapping of settings at the top level, found {type(data).__name__}")
    return from_dict(data, source=str(p))


def describe() -> list[tuple[str, str, str]]:
    """(key, default, doc) for every setting: the documentation of the file format."""
    rows: list[tuple[str, str, str]] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        inst = cls()
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, prefix + f.name + ".")
                continue
            rows.append((prefix + f.name, repr(getattr(inst, f.name)), f.metadata.get("doc", "")))

    walk(Config, "")
    return rows
