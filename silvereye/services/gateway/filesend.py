"""Sending file bodies (S3 GET): zero-copy ``sendfile`` when the connection allows it, chunks otherwise.

ASGI has no way to hand a server a file, so a file body normally travels as
``http.response.body`` messages: each chunk is read into Python and written
to the socket, two copies per byte and a Python round trip per chunk. On a
plain-HTTP connection served by uvicorn's httptools protocol (what
``silvereye serve`` runs) the bytes can instead go from the page cache to
the socket with ``os.sendfile``: once the response head has left the
transport's buffer, a worker thread drives ``sendfile`` on the connection's
socket (waiting for it to be writable with ``select`` when it is full), the
event loop stays free, and uvicorn's count of body bytes still owed is
reduced by what was sent so that its end-of-response check holds.

This reaches into the ASGI server (the ``send`` callable's protocol object),
so it is used only when everything it relies on is there and plain: the
httptools request cycle with a Content-Length response, a socket, no TLS.
Anything else -- TLS, another server or protocol implementation, a test
harness -- takes the chunked path, which works everywhere.
"""

from __future__ import annotations

import asyncio
import errno
import os
from typing import Any, Callable

from silvereye.services.gateway.http import FileBody

FILE_CHUNK = 1024 * 1024
MIN_ZERO_COPY = 256 * 1024  # below this, a thread hop costs more than the copies it saves
SENDFILE_STEP = 8 * 1024 * 1024  # at most this much per call, so other requests get the loop in between
STALL_SECONDS = 120.0  # a client that takes nothing for this long is gone
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN)


def _cycle(send: Callable, plain_http: bool) -> Any | None:
    """uvicorn's httptools request cycle behind ``send``, when zero-copy is safe on it."""
    cycle = getattr(send, "__self__", None)
    if not plain_http or cycle is None or not type(cycle).__module__.endswith("httptools_impl"):
        return None
    transport = getattr(cycle, "transport", None)
    if transport is None or getattr(cycle, "chunked_encoding", True) is not False:
        return None
    if not isinstance(getattr(cycle, "expected_content_length", None), int):
        return None
    if transport.get_extra_info("sslcontext") is not None or transport.get_extra_info("socket") is None:
        return None
    return cycle


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    waiter = loop.create_future()
    loop.add_writer(fd, lambda: waiter.done() or waiter.set_result(None))
    try:
        await asyncio.wait_for(waiter, STALL_SECONDS)
    finally:
        loop.remove_writer(fd)


async def _zero_copy(cycle: Any, fd: int, offset: int, count: int) -> None:
    """Send ``count`` bytes of ``fd`` from ``offset`` with sendfile, on the event loop.

    The connection's socket is non-blocking: each sendfile moves what fits in
    the socket buffer (page references, no copy through Python), and when it
    is full we wait for it to drain through a duplicate of its descriptor (the
    loop refuses to watch a descriptor a transport owns). A client that goes
    away or stops reading ends the response quietly, as uvicorn's own send does.
    """
    transport = cycle.transport
    while transport.get_write_buffer_size():  # the response head first
        await asyncio.sleep(0.0005)
    loop = asyncio.get_running_loop()
    out = os.dup(transport.get_extra_info("socket").fileno())
    sent = 0
    try:
        while sent < count and not transport.is_closing():
            try:
                n = os.sendfile(out, fd, offset + sent, min(count - sent, SENDFILE_STEP))
            except BlockingIOError:
                await _writable(loop, out)
                continue
            if n == 0:
                raise OSError(f"file ended {count - sent} bytes early")
            sent += n
    except (OSError, asyncio.TimeoutError) as e:
        if isinstance(e, OSError) and e.errno not in _GONE:
            raise
        cycle.disconnected = True  # uvicorn's send() then drops the rest quietly
        transport.abort()
    finally:
        os.close(out)
        cycle.expected_content_length -= sent


async def send_file(send: Callable, body: FileBody, *, plain_http: bool) -> None:
    """Send one file's bytes as part of a response body; the caller ends the body."""
    fd = body.fd if body.fd is not None else os.open(body.path, os.O_RDONLY)
    try:
        remaining = body.length if body.length >= 0 else os.fstat(fd).st_size - body.offset
        offset = body.offset
        cycle = _cycle(send, plain_http) if remaining >= MIN_ZERO_COPY else None
        if cycle is not None:
            await _zero_copy(cycle, fd, offset, remaining)
            return
        while remaining > 0:
            chunk = os.pread(fd, min(FILE_CHUNK, remaining), offset)
            if not chunk:
                raise OSError(f"{body.path} ended {remaining} bytes early")
            offset += len(chunk)
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        if body.fd is None:
            os.close(fd)
