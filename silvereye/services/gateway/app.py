"""The ASGI application behind the one listener.

Every request takes the same path: route -> authenticate -> parse (and
validate) -> authorize -> handler -> serialize. Anything a client did wrong
is a :class:`ServiceError` in the protocol's own envelope; anything else is
logged with its traceback and answered with InternalError (500), never a
traceback on the wire.

Blocking work (the store, libvirt, policy evaluation) runs in a thread pool:
the whole pipeline of an ordinary request runs in one worker thread (one hop
per request). Handlers declared ``async`` (S3's streaming PUTs and GETs) run
on the event loop and read the body as it arrives.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import inspect
import logging
import os
import time
from typing import Any, AsyncIterator, Awaitable, Callable

from silvereye import ids
from silvereye.services.gateway import auth
from silvereye.services.gateway.context import RequestContext
from silvereye.services.gateway.errors import ServiceError, internal_error, not_implemented
from silvereye.services.gateway.filesend import send_file, watch_disconnect
from silvereye.services.gateway.http import BodyStream, FileBody, Headers, HttpRequest, HttpResponse
from silvereye.services.gateway.identity import CredentialResolver
from silvereye.services.gateway.protocols import detect_protocol, parser_for, serializer_for
from silvereye.services.gateway.routing import Route, Router
from silvereye.services.registry import Service

log = logging.getLogger("silvereye.gateway")

MAX_BUFFERED_BODY = 64 * 1024 * 1024  # non-streaming requests (policies, templates, user-data)


class Access:
    """What the gateway needs from IAM to authorize a request (implemented by the IAM service)."""

    def authorize(self, ctx: RequestContext, action: str, resources: list[str]) -> None:  # pragma: no cover
        raise NotImplementedError


class Gateway:
    def __init__(
        self,
        *,
        config: Any,
        services: list[Service],
        resolver: CredentialResolver,
        access: Access,
        store: Any = None,
        threads: int = 16,
    ):
        self.config = config
        self.services = services
        self.store = store
        self.resolver = resolver
        self.access = access
        self.router = Router(services, config.dns_domain)
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="api")
        self.skew = config.api.clock_skew_seconds
        self.background: list[asyncio.Task[Any]] = []

    # -- ASGI ----------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = _request_from_scope(scope, receive)
        response = await self.handle(request)
        if _body_left_unread(request):
            # Answered before the body was read (an error, or Expect: 100-continue never granted): the rest of
            # the connection can no longer be framed, so it ends with this response.
            response.headers.set("Connection", "close")
        gone = watcher = None
        if not isinstance(response.body, (bytes, bytearray)) and (request.stream is None or request.stream.complete):
            gone = asyncio.Event()  # a long body: stop sending when the client leaves
            watcher = asyncio.ensure_future(watch_disconnect(receive, gone))
        try:
            await _send(send, response, head=request.method == "HEAD", gone=gone)
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for svc in self.services:
                        for hook in svc.startup:
                            r = hook(self)
                            if asyncio.iscoroutine(r):
                                await r
                except Exception as e:  # a service that cannot start stops the server
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for svc in self.services:
                    for hook in svc.shutdown:
                        try:
                            r = hook(self)
                            if asyncio.iscoroutine(r):
                                await r
                        except Exception:
                            log.exception("shutdown hook failed")
                for t in self.background:
                    t.cancel()
                self.executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run a controller loop for the life of the server."""
        self.background.append(asyncio.ensure_future(coro))

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # -- the pipeline --------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = ids.request_id()
        started = time.perf_counter()
        route: Route | None = None
        try:
            scope = auth.peek_scope(request)
            if self.router.needs_body(request) or (scope is not None and scope.service != "s3"):
                request.body = await _read_body(request)
            route = self.router.route(request, scope.service if scope else None)
            streams = self._streams(route, request)
            if not streams:
                request.body = await _read_body(request)
            ctx = RequestContext(
                request=request, request_id=request_id, service=route.service.name, config=self.config, store=self.store
            )
            ctx.extras["route"] = route
            if request.method == "OPTIONS" and route.service.options is not None:
                response = await self.run_blocking(route.service.options, ctx)  # S3's CORS preflight: unsigned
            elif streams:
                response = await self._handle_async(ctx, route)
            else:
                response = await self.run_blocking(self._handle_sync, ctx, route)
        except ServiceError as e:
            response = self._error(route, None, e, request_id, request=request)
        except Exception:
            log.exception("request %s failed", request_id)
            response = self._error(route, None, internal_error(), request_id, request=request)
        elapsed = (time.perf_counter() - started) * 1000
        log.debug("%s %s -> %s (%.1f ms) %s", request.method, request.raw_path, response.status, elapsed, request_id)
        return response

    def _streams(self, route: Route, request: HttpRequest) -> bool:
        """S3 operations whose handler reads or writes the body as a stream."""
        if route.service.name != "s3" or request.stream is None:
            return False
        return parser_for(route.service.model, "rest-xml").wants_stream(_s3_request(request, route), bucket=route.vhost_bucket)

    def _prepare(self, ctx: RequestContext, route: Route) -> tuple[Any, dict[str, Any], Any]:
        """Authenticate, parse and authorize; returns (operation model, params, serializer)."""
        svc = route.service
        request = ctx.request
        result = auth.authenticate(
            request, service=svc.name, resolver=self.resolver, skew_seconds=self.skew, virtual_host_bucket=route.vhost_bucket
        )
        ctx.principal = result.principal
        ctx.auth_type = result.auth_type
        ctx.region = result.region
        ctx.extras["payload"] = result.payload
        protocol = detect_protocol(svc.model, request)
        ctx.extras["protocol"] = protocol
        parser = parser_for(svc.model, protocol)
        if svc.name == "s3":
            op_model, params = parser.parse(_s3_request(request, route), bucket=route.vhost_bucket)
        else:
            op_model, params = parser.parse(request)
        ctx.operation = op_model.name
        ctx.extras["operation_model"] = op_model
        self._authorize(ctx, svc, op_model.name, params)
        return op_model, params, serializer_for(svc.model, protocol)

    def _authorize(self, ctx: RequestContext, svc: Service, operation: str, params: dict[str, Any]) -> None:
        if svc.authorize is not None:
            svc.authorize(ctx, operation, params)
            return
        if operation in svc.unauthenticated_ok:
            return
        resources = svc.resources(ctx, operation, params) if svc.resources else ["*"]
        self.access.authorize(ctx, f"{svc.iam_prefix}:{operation}", resources)

    def _handle_sync(self, ctx: RequestContext, route: Route) -> HttpResponse:
        op_model = None
        try:
            op_model, params, serializer = self._prepare(ctx, route)
            handler = route.service.handler_for(op_model.name)
            if handler is None:
                raise not_implemented(route.service.name, op_model.name)
            result = handler(ctx, params)
            return _extra_headers(ctx, serializer.serialize(op_model, result or {}, ctx.request_id))
        except ServiceError as e:
            return _extra_headers(ctx, self._error(route, op_model, e, ctx.request_id, ctx))
        except Exception:
            log.exception("%s %s failed (request %s)", route.service.name, ctx.operation or "?", ctx.request_id)
            return self._error(route, op_model, internal_error(), ctx.request_id, ctx)

    async def _handle_async(self, ctx: RequestContext, route: Route) -> HttpResponse:
        op_model = None
        try:
            op_model, params, serializer = await self.run_blocking(self._prepare, ctx, route)
            handler = route.service.handler_for(op_model.name)
            if handler is None:
                raise not_implemented(route.service.name, op_model.name)
            if inspect.iscoroutinefunction(handler):
                result = await handler(ctx, params)
            else:  # a streaming operation served by a plain handler: buffer it
                ctx.request.body = await _read_body(ctx.request)
                params = await self.run_blocking(lambda: parser_for(route.service.model, ctx.extras["protocol"]).parse(
                    _s3_request(ctx.request, route), bucket=route.vhost_bucket)[1])
                result = await self.run_blocking(handler, ctx, params)
            return _extra_headers(ctx, serializer.serialize(op_model, result or {}, ctx.request_id))
        except ServiceError as e:
            return _extra_headers(ctx, self._error(route, op_model, e, ctx.request_id, ctx))
        except Exception:
            log.exception("%s %s failed (request %s)", route.service.name, ctx.operation or "?", ctx.request_id)
            return self._error(route, op_model, internal_error(), ctx.request_id, ctx)

    def _error(
        self,
        route: Route | None,
        op_model: Any,
        error: ServiceError,
        request_id: str,
        ctx: RequestContext | None = None,
        *,
        request: HttpRequest | None = None,
    ) -> HttpResponse:
        svc = route.service if route else (self.router.s3 or self.services[0])
        request = ctx.request if ctx else request
        protocol = (ctx.extras.get("protocol") if ctx else None) or (
            detect_protocol(svc.model, request) if request is not None else svc.model.metadata["protocol"]
        )
        return serializer_for(svc.model, protocol).serialize_error(error, op_model, request_id)


def _extra_headers(ctx: RequestContext, response: HttpResponse) -> HttpResponse:
    """Headers outside the operation's output shape (S3's CORS headers, x-amz-delete-marker on a 404)."""
    for name, value in ctx.extras.get("response_headers", ()):
        response.headers.set(name, value)
    return response


def _s3_request(request: HttpRequest, route: Route) -> HttpRequest:
    """The request as the S3 codec sees it: without the /services/objectstorage prefix."""
    if route.s3_path is None or route.s3_path == request.raw_path:
        return request
    return dataclasses.replace(request, raw_path=route.s3_path)


# -- ASGI plumbing ---------------------------------------------------------------


def _request_from_scope(scope: dict[str, Any], receive: Callable[[], Awaitable[dict]]) -> HttpRequest:
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
    if "?" in path:
        path = path.split("?", 1)[0]
    headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])])
    client = scope.get("client") or ("", 0)

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ServiceError("IncompleteBody", "The client closed the connection before sending the whole body.", 400)
            body = message.get("body", b"")
            if not message.get("more_body", False):
                stream.complete = True
            if body:
                yield body
            if stream.complete:
                return

    stream = BodyStream(chunks())
    return HttpRequest(
        method=scope["method"],
        raw_path=path,
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        stream=stream,
        client_ip=client[0] or "",
        scheme=scope.get("scheme", "http"),
    )


def _body_left_unread(request: HttpRequest) -> bool:
    if request.stream is None or request.stream.complete:
        return False
    length = request.headers.get("content-length")
    return bool(request.headers.get("transfer-encoding")) or (length is not None and length.strip() not in ("", "0"))


async def _read_body(request: HttpRequest) -> bytes:
    if request.stream is None or request.stream.consumed:
        return request.body
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BUFFERED_BODY:
        raise ServiceError("RequestEntityTooLarge", "The request body is larger than this operation accepts.", 413)
    try:
        return await request.stream.read(MAX_BUFFERED_BODY)
    except ValueError:
        raise ServiceError("RequestEntityTooLarge", "The request body is larger than this operation accepts.", 413) from None


async def _send(send: Callable, response: HttpResponse, *, head: bool, gone: asyncio.Event | None = None) -> None:
    headers = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in response.headers]
    body = response.body
    if isinstance(body, (bytes, bytearray)):
        if not any(k == b"content-length" for k, _ in headers):
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else bytes(body)})
        return
    files = [body] if isinstance(body, FileBody) else body if isinstance(body, list) else None
    try:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        if files is not None:
            for part in files:
                await send_file(send, part, gone)
        else:
            async for chunk in body:  # an async iterator of bytes
                if gone is not None and gone.is_set():
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        for part in files or ():
            if part.fd is not None:
                os.close(part.fd)
                part.fd = None
