"""Typed failures of the compute driver.

Callers (the EC2 handlers, the reconciler, the CLI) decide what a failure
means to *their* user: the EC2 layer maps :class:`InsufficientCapacity` to
``InsufficientInstanceCapacity`` and :class:`InstanceNotFound` to
``InvalidInstanceID.NotFound``; the CLI prints the message. So every error
here carries a message that names the thing and the remedy, and no libvirt
exception ever leaves this package: :func:`libvirt_call` translates them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from silvereye.errors import SilvereyeError


class ComputeError(SilvereyeError):
    """Any failure of the compute driver."""


class InvalidArgument(ComputeError):
    """A value handed to the driver is malformed (a bad instance id, an unknown instance type)."""


class InstanceNotFound(ComputeError):
    """No silvereye domain exists for this instance id on any node."""

    def __init__(self, instance_id: str):
        super().__init__(f"instance {instance_id} has no domain on any node")
        self.instance_id = instance_id


class InstanceExists(ComputeError):
    """A domain for this instance id is already defined."""

    def __init__(self, instance_id: str, node: str):
        super().__init__(f"instance {instance_id} already has a domain on node {node}")
        self.instance_id = instance_id
        self.node = node


class InvalidState(ComputeError):
    """The operation does not apply to the instance in its current state (start a running one)."""


class InsufficientCapacity(ComputeError):
    """No node has the free vCPUs, memory and disk an instance needs."""

    def __init__(self, message: str, *, instance_type: str = ""):
        super().__init__(message)
        self.instance_type = instance_type


class AddressSpaceExhausted(ComputeError):
    """Every address of the instance subnet is reserved."""


class NodeUnavailable(ComputeError):
    """A node's libvirt cannot be reached."""


class ImageError(ComputeError):
    """An image file cannot be used (missing, unreadable, wrong format, has a backing file)."""


class NetworkError(ComputeError):
    """The silvereye network or its metadata redirect cannot be set up."""


class HypervisorError(ComputeError):
    """libvirt or QEMU refused an operation; the message carries libvirt's own words."""

    def __init__(self, message: str, *, code: int = 0):
        super().__init__(message)
        self.code = code


def _libvirt_module():
    import libvirt  # the only package allowed to import it

    return libvirt


@contextlib.contextmanager
def libvirt_call(what: str, *, instance_id: str | None = None) -> Iterator[None]:
    """Run a libvirt call, turning ``libvirtError`` into a typed, readable error.

    ``what`` says what we were doing ("start instance i-...", "define network
    silvereye"), so the message reads "cannot <what>: <libvirt's reason>".
    """
    libvirt = _libvirt_module()
    try:
        yield
    except libvirt.libvirtError as e:
        code = e.get_error_code() or 0
        reason = (e.get_error_message() or str(e)).strip()
        if instance_id and code == libvirt.VIR_ERR_NO_DOMAIN:
            raise InstanceNotFound(instance_id) from None
        if code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_RPC) and "connect" in reason.lower():
            raise NodeUnavailable(f"cannot {what}: {reason}; is libvirtd running on that node?") from None
        if code == libvirt.VIR_ERR_OPERATION_INVALID:
            raise InvalidState(f"cannot {what}: {reason}") from None
        raise HypervisorError(f"cannot {what}: {reason}", code=code) from None
