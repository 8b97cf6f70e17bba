"""StartInstances, StopInstances, RebootInstances, TerminateInstances.

Each request is checked whole before anything moves (one instance in the
wrong state fails the request, as on EC2), then every instance's new state
is committed in one transaction and the driver work is queued behind
whatever that instance is already doing.
"""

from __future__ import annotations

import collections
from typing import Any

from silvereye.services.ec2 import controller, errors
from silvereye.services.ec2.handlers.instances import fitting
from silvereye.services.ec2.models import instances as records
from silvereye.services.ec2.models import zones
from silvereye.services.ec2.runtime import runtime_for
from silvereye.services.gateway.context import RequestContext


def _change(row: Any, current: str) -> dict[str, Any]:
    return {"InstanceId": row.id, "PreviousState": records.state_of(row),
            "CurrentState": {"Code": records.STATE_CODES[current], "Name": current}}


def terminate_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    out, queued = [], []
    with ctx.store.write() as conn:
        rows = records.owned(conn, ctx.account_id, params["InstanceIds"])
        for row in rows:
            if row.disable_api_termination and row.state != "terminated":
                raise errors.operation_not_permitted(
                    f"The instance '{row.id}' may not be terminated. Modify its 'disableApiTermination' instance "
                    "attribute and try again.")
        for row in rows:
            if row.state in ("terminated", "shutting-down"):
                out.append(_change(row, row.state))
                continue
            records.transition(conn, row.id, "shutting-down", expect=(row.state,), reason=records.USER_SHUTDOWN,
                               transition_reason=records.user_initiated())
            out.append(_change(row, "shutting-down"))
            queued.append(row.id)
    for iid in queued:
        rt.submit(iid, controller.terminate, rt, iid)
    return {"TerminatingInstances": out}


def stop_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("Hibernate"):
        raise errors.unsupported("Hibernate: instances cannot hibernate.")
    rt = runtime_for(ctx.store)
    force = bool(params.get("Force"))
    out, queued = [], []
    with ctx.store.write() as conn:
        rows = records.owned(conn, ctx.account_id, params["InstanceIds"])
        for row in rows:
            if row.state not in ("running", "stopping", "stopped"):
                raise errors.incorrect_state(row.id, row.state, "stopped")
            if row.disable_api_stop and row.state == "running":
                raise errors.operation_not_permitted(
                    f"The instance '{row.id}' may not be stopped. Modify its 'disableApiStop' instance attribute "
                    "and try again.")
        for row in rows:
            if row.state != "running":
                out.append(_change(row, row.state))
                continue
            records.transition(conn, row.id, "stopping", expect=("running",),
                               transition_reason=records.user_initiated())
            out.append(_change(row, "stopping"))
            queued.append(row.id)
    for iid in queued:
        rt.submit(iid, controller.stop, rt, iid, force)
    return {"StoppingInstances": out}


def _checked(ctx: RequestContext, params: dict[str, Any], allowed: tuple[str, ...], action: str) -> list[Any]:
    """The account's instances named by the request, all in one of the ``allowed`` states."""
    with ctx.store.read() as conn:
        rows = records.owned(conn, ctx.account_id, params["InstanceIds"])
    for row in rows:
        if row.state not in allowed:
            raise errors.incorrect_state(row.id, row.state, action)
    return rows


def start_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    rows = _checked(ctx, params, ("pending", "running", "stopped"), "started")
    by_type = collections.Counter((r.instance_type, r.availability_zone) for r in rows if r.state == "stopped")
    for (type_name, zone), n in by_type.items():
        if fitting(rt, zones.check_instance_type(type_name), zone) < n:
            raise errors.insufficient_capacity(type_name, zone)
    out, queued = [], []
    with ctx.store.write() as conn:
        for row in records.owned(conn, ctx.account_id, params["InstanceIds"]):
            if row.state != "stopped":
                out.append(_change(row, row.state))
                continue
            if records.transition(conn, row.id, "pending", expect=("stopped",), transition_reason=""):
                out.append(_change(row, "pending"))
                queued.append(row.id)
            else:
                raise errors.incorrect_state(row.id, row.state, "started")
    for iid in queued:
        rt.submit(iid, controller.start, rt, iid)
    return {"StartingInstances": out}


def reboot_instances(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rt = runtime_for(ctx.store)
    rows = _checked(ctx, params, ("running", "pending"), "rebooted")
    for row in rows:
        if row.state == "running":
            rt.submit(row.id, controller.reboot, rt, row.id)
    return {}
