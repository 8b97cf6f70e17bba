"""The roles a host can play; kept import-light because the CLI's option type is this enum."""

import enum


class Role(str, enum.Enum):
    ciab = "ciab"  # cloud-in-a-box: everything on one host
    frontend = "frontend"  # the API stack, no instances
    node = "node"  # a node controller: instances only
