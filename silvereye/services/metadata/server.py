"""The metadata listener: HTTP/1.1 on the bridge address, in the server's own event loop.

It runs beside the API listener in ``silvereye serve`` (same process, same
loop, asyncio's ``start_server``), with h11 doing the HTTP/1.1 parsing and
framing. A plain socket server rather than a second uvicorn because the
metadata service needs the connection itself: IMDSv2's hop limit is the IP
TTL of the token response, set on that connection's socket.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

import h11

from silvereye.services.metadata.app import Request, Response

log = logging.getLogger("silvereye.metadata")

MAX_REQUEST = 16 * 1024  # a metadata request has no body worth the name
IDLE_SECONDS = 30.0
DEFAULT_TTL = 64


class MetadataServer:
    def __init__(self, answer: Callable[[Request], Awaitable[Response]]):
        self.answer = answer
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        if self._server is None or not self._server.sockets:
            return None
        return self._server.sockets[0].getsockname()[:2]

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._connection, host, port, reuse_address=True, limit=MAX_REQUEST)
        log.info("instance metadata service listening on %s:%s", host, port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("", 0))[0]
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST)
        try:
            while True:
                request = await self._read_request(conn, reader)
                if request is None:
                    break
                method, target, headers = request
                response = await self.answer(Request(method, target, headers, peer))
                close = response.ttl is not None or conn.their_state is h11.MUST_CLOSE
                await self._send(conn, writer, response, head=method == "HEAD", close=close)
                if close or conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (h11.RemoteProtocolError, ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader):  # noqa: ANN202
        head = None
        size = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(reader.read(4096), IDLE_SECONDS)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
                head = (event.method.decode("ascii"), event.target.decode("latin-1"), headers)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_REQUEST:
                    raise h11.RemoteProtocolError("request body too large")
            elif isinstance(event, h11.EndOfMessage):
                return head
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, response: Response, *,
                    head: bool, close: bool) -> None:
        headers = [*response.headers, ("Content-Length", str(len(response.body))), ("Server", "EC2ws")]
        if close:
            headers.append(("Connection", "close"))
        sock = writer.get_extra_info("socket")
        if response.ttl is not None and sock is not None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, max(1, min(255, response.ttl)))
        writer.write(conn.send(h11.Response(status_code=response.status, headers=headers,
                                            reason=_reason(response.status))))
        if not head and response.body:
            writer.write(conn.send(h11.Data(data=response.body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()


def _reason(status: int) -> bytes:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
