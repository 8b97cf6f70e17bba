"""silvereye.yaml as install writes it: the file already there, with the answers merged in.

Settings the administrator (or a test) put in the file before are kept;
install only sets what the answers decide (interface, elastic IP range, NTP,
DNS domain) and, later, ``node add`` the node list. Each key is written with
its documentation as a comment, from the template ``silvereye.yaml.j2``.
The result is validated with the configuration loader before it is written,
so install never leaves a file the service would refuse.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from silvereye import config as config_mod
from silvereye.config import Config, ConfigError, read_yaml
from silvereye.laydown.hostfiles import render


@dataclass
class Item:
    key: str
    doc: str
    value: Any = None
    children: list["Item"] | None = None


def read_settings(path: Path) -> dict[str, Any]:
    """The mapping in an existing configuration file ({} when there is none)."""
    if not Path(path).exists():
        return {}
    data = read_yaml(Path(path), "config", ConfigError, "")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a mapping of settings at the top level, found {type(data).__name__}")
    return data


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` laid over it, mappings merged key by key."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def _items(cls: type, data: dict[str, Any]) -> list[Item]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    items = []
    for name in [n for n in fields if n in data]:  # the order of the configuration's own declaration
        f, value = fields[name], data[name]
        doc = f.metadata.get("doc", "")
        if dataclasses.is_dataclass(hints[name]) and isinstance(value, dict):
            items.append(Item(name, doc, children=_items(hints[name], value)))
        else:
            items.append(Item(name, doc, value=value))
    return items


def render_config(settings: dict[str, Any], role: str, source: str) -> tuple[str, Config]:
    """The text of silvereye.yaml for ``settings`` and the configuration it loads as."""
    cfg = config_mod.from_dict(settings, source=source)  # refuses unknown keys and bad values, in one line
    text = render("silvereye.yaml.j2", role=role, items=_items(Config, settings))
    reread = config_mod.from_dict(yaml.safe_load(text), source=source)
    if reread.to_dict() != cfg.to_dict():  # the template lost or changed something: a bug here, not the user's
        raise AssertionError(f"silvereye.yaml.j2 does not round-trip: {reread.to_dict()} != {cfg.to_dict()}")
    return text, cfg
