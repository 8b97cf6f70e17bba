"""What other EC2 features do when an instance changes state: one registry, filled at import time.

Security groups, elastic IPs and volumes each keep something on the host
that follows an instance (firewall membership keyed by its private address,
NAT rules, attached disks). Rather than the controller knowing each of them,
a feature registers a hook here when its module is imported, and the
controller calls :func:`fire` once a transition has been committed. Hooks
run on the instance's worker (never overlapping other work on it) after the
record moved, so they read the record as it now is; a failing hook is
logged and does not undo the transition (the next reconcile or start-up
load puts the host right again).

Events:

- ``running``: the domain runs and the record has its node and private address
  (after a launch, a start, or adoption by reconcile);
- ``stopped``: the domain is shut off but kept;
- ``terminated``: the domain is gone for good;
- ``network_ready``: the instance network is up (once per server start, before
  any instance runs): features load their host state from their records here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("silvereye.ec2")

EVENTS = ("running", "stopped", "terminated")

InstanceHook = Callable[[Any, str], None]  # (runtime, instance_id)
_instance_hooks: dict[str, list[InstanceHook]] = {event: [] for event in EVENTS}
_network_hooks: list[Callable[[Any], None]] = []


def on(event: str, hook: InstanceHook) -> InstanceHook:
    """Call ``hook(runtime, instance_id)`` after each committed move into ``event``'s state."""
    if event not in _instance_hooks:
        raise ValueError(f"unknown instance event {event!r}; expected one of {', '.join(EVENTS)}")
    if hook not in _instance_hooks[event]:
        _instance_hooks[event].append(hook)
    return hook


def on_network_ready(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    """Call ``hook(runtime)`` once the instance network is up."""
    if hook not in _network_hooks:
        _network_hooks.append(hook)
    return hook


def fire(rt: Any, event: str, instance_id: str) -> None:
    for hook in list(_instance_hooks[event]):
        try:
            hook(rt, instance_id)
        except Exception:  # noqa: BLE001 - logged; reconciliation repairs the host later
            log.exception("the %s hook %s failed for %s", event, getattr(hook, "__qualname__", hook), instance_id)


def network_ready(rt: Any) -> None:
    for hook in list(_network_hooks):
        try:
            hook(rt)
        except Exception:  # noqa: BLE001
            log.exception("the network-ready hook %s failed", getattr(hook, "__qualname__", hook))
