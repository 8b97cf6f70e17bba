"""Sending file bodies (S3 GET): 1 MiB reads handed to the ASGI server, until the client goes away.

Each chunk is read with ``pread`` and passed to the server, whose transport
writes it from C as the socket drains (uvicorn's flow control bounds what is
queued, so a slow client holds at most a few chunks in memory). Measured on
loopback against nginx's sendfile this path keeps up (see
bench/s3_throughput.py); a zero-copy ``sendfile`` driven from Python was
tried and was slower whenever the machine was busy, each refill of the
socket waiting for a Python wake-up.

ASGI servers drop what is sent after the client has disconnected without
telling the application, so :func:`watch_disconnect` listens for the
``http.disconnect`` message beside the response, and sending stops there
rather than reading the rest of a large file for nobody.
"""

from __future__ import annotations

import asyncio
import os
from typing import Awaitable, Callable

from silvereye.services.gateway.http import FileBody

FILE_CHUNK = 1024 * 1024


async def watch_disconnect(receive: Callable[[], Awaitable[dict]], gone: asyncio.Event) -> None:
    """Set ``gone`` when the server reports the client gone (run once the request body has been read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def send_file(send: Callable, body: FileBody, gone: asyncio.Event | None = None) -> None:
    """Send one file's bytes as part of a response body; the caller ends the body."""
    fd = body.fd if body.fd is not None else os.open(body.path, os.O_RDONLY)
    try:
        remaining = body.length if body.length >= 0 else os.fstat(fd).st_size - body.offset
        offset = body.offset
        while remaining > 0 and not (gone is not None and gone.is_set()):
            chunk = os.pread(fd, min(FILE_CHUNK, remaining), offset)
            if not chunk:
                raise OSError(f"{body.path} ended {remaining} bytes early")
            offset += len(chunk)
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        if body.fd is None:
            os.close(fd)
