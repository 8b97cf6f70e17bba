"""What to do when an instance's record and its domain disagree: the decisions, kept pure.

libvirt is the ground truth (the Eucalyptus 3 principle: a component learns
current state from what exists). :func:`decide` looks at one instance's
record state and its domain's state and answers with an :class:`Action`;
the controller carries it out. It is asked at start-up for every instance,
periodically, and whenever libvirt reports a lifecycle event, always for
instances no operation of ours is working on (their own operation settles
them).

The table, record state x domain state (absent, active, down = shut off or
crashed)::

                    absent              active             down
    pending         relaunch (if stale) running            start again
    running         terminated (lost)   -                  stopped / terminate (guest shut down)
    stopping        terminated (lost)   stop again         stopped
    stopped         terminated (lost)   running            -
    shutting-down   terminate again     terminate again    terminate again

A pending record with no domain is relaunched only when it is stale (its
launch was lost to a crash or restart): a fresh one is about to be launched
by the request that made it. Domains with no live record are cleaned when
they are this cloud's (see :mod:`.controller`).
"""

from __future__ import annotations

from dataclasses import dataclass

from silvereye.services.ec2.models.instances import INSTANCE_SHUTDOWN, INTERNAL_ERROR, USER_SHUTDOWN

ACTIVE = ("running", "blocked", "paused", "pmsuspended", "shutdown", "nostate")
DOWN = ("shutoff", "crashed")
ABSENT = "absent"

LOST = (INTERNAL_ERROR, f"{INTERNAL_ERROR}: The instance's virtual machine no longer exists")
CRASHED = (INTERNAL_ERROR, f"{INTERNAL_ERROR}: The instance's virtual machine crashed")


@dataclass(frozen=True)
class Action:
    kind: str  # none | adopt | relaunch | start | stop | stopped | terminate | terminated
    reason: tuple[str, str] | None = None  # StateReason (code, message) to record
    transition_reason: str | None = None


NONE = Action("none")


def domain_kind(domain_state: str) -> str:
    if domain_state == ABSENT:
        return ABSENT
    return "down" if domain_state in DOWN else "active"


def decide(record_state: str, domain_state: str, *, shutdown_behavior: str = "stop", stale: bool = False) -> Action:
    """The action that brings a record (not being worked on) in line with its domain."""
    kind = domain_kind(domain_state)
    if record_state == "terminated":
        return NONE
    if record_state == "shutting-down":
        return Action("terminate")
    if kind == ABSENT:
        if record_state == "pending":
            return Action("relaunch") if stale else NONE
        return Action("terminated", LOST)
    if kind == "active":
        if record_state in ("pending", "stopped"):
            return Action("adopt")
        if record_state == "stopping":
            return Action("stop")
        return NONE  # running, or a guest on its way down (its stop event follows)
    # The domain is down.
    if record_state == "pending":
        return Action("start")
    if record_state == "stopping":
        return Action("stopped", USER_SHUTDOWN)
    if record_state == "running":
        if domain_state == "crashed":
            return Action("stopped", CRASHED)
        if shutdown_behavior == "terminate":
            return Action("terminate", INSTANCE_SHUTDOWN, INSTANCE_SHUTDOWN[0])
        return Action("stopped", INSTANCE_SHUTDOWN, INSTANCE_SHUTDOWN[0])
    return NONE  # stopped


def unrecorded_domain(record_state: str | None, ours: bool) -> str:
    """A domain whose record is gone or terminated: 'clean' it when it is this cloud's, else 'report'."""
    if record_state not in (None, "terminated"):
        return "keep"
    return "clean" if ours else "report"
