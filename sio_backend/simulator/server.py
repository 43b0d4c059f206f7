"""The HTTP(S) side of the simulator: transport, request pipeline, request log.

One request goes through: admin endpoints (never faulted, never logged) or
faults -> route -> authentication -> JSON body -> handler under the model lock
-> what the handler left for after the lock (a snapshot's data copy) -> log
-> answer (or, when a drop fault matched, a closed connection).
The listener binds to 127.0.0.1 only and does the TLS handshake in the
connection's own thread, so a slow client never blocks the others.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from sio_backend.simulator import errors
from sio_backend.simulator.admin import AdminApi
from sio_backend.simulator.errors import SimulatorError
from sio_backend.simulator.faults import FaultInjector
from sio_backend.simulator.params import Body
from sio_backend.simulator.requestlog import LoggedRequest, RequestLog
from sio_backend.simulator.routes import GatewayApi
from sio_backend.simulator.routing import AfterLock, Answer, Request, Route

LOG = logging.getLogger(__name__)
ADMIN_PREFIX = "/__simulator__/"


@dataclass(frozen=True)
class Outcome:
    status: int
    body: bytes
    drop: bool = False
    content_type: str = errors.JSON


class Pipeline:
    """Turns one HTTP request into an :class:`Outcome`."""

    def __init__(
        self,
        *,
        api: GatewayApi,
        faults: FaultInjector,
        log: RequestLog,
        admin: AdminApi,
    ) -> None:
        self._api = api
        self._faults = faults
        self._log = log
        self._admin = admin

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        path = urlsplit(target).path
        if path.startswith(ADMIN_PREFIX):
            status, admin_payload = self._admin.handle(method, path[len(ADMIN_PREFIX) :], body)
            return Outcome(status, json.dumps(admin_payload).encode())
        started = time.monotonic()
        plan = self._faults.plan(method, path)
        if plan.latency:
            threading.Event().wait(plan.latency)  # not time.sleep: os-brick's tests patch it
        fault = "fail" if plan.failure else ("drop" if plan.drop else None)
        error_code = None
        route: Route | None = None
        content_type = errors.JSON
        try:
            if plan.failure is not None:
                route = self._api.find(method, path)
                raise plan.failure
            route, params = self._api.match(method, path)
            status, payload = self._dispatch(
                route, params, method=method, path=path, headers=headers, body=body
            )
        except SimulatorError as exc:
            status, error_code, payload = exc.status, exc.error_code, exc.payload()
            content_type = exc.content_type
        self._log.record(
            LoggedRequest(
                time=time.time(),
                method=method,
                path=path,
                route=route.template if route else path,
                status=None if plan.drop else status,
                error_code=error_code,
                duration=time.monotonic() - started,
                fault=fault,
            )
        )
        return Outcome(status, payload, plan.drop, content_type)

    def _dispatch(
        self,
        route: Route,
        params: dict[str, str],
        *,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, bytes]:
        authorization = headers.get("Authorization")
        token = None if route.public else self._api.auth.authenticate(authorization)
        request = Request(method, path, Body(_parse_json(body)), authorization, token, params)
        with self._api.state.lock:
            result = _answer(lambda: route.handler(request), method, path)
            if not isinstance(result, AfterLock):
                return _render(result)
        return _render(_answer(result.work, method, path))


def _answer(handler: Callable[[], Any], method: str, path: str) -> Any:
    """What a handler answers; an unexpected exception is a 500 that names it."""
    try:
        return handler()
    except SimulatorError:
        raise
    except Exception as exc:
        LOG.exception("simulator bug while serving %s %s", method, path)
        raise SimulatorError(500, 0, f"Internal simulator error: {exc!r}") from exc


def _render(result: Any) -> tuple[int, bytes]:
    if isinstance(result, Answer):
        return result.status, b""
    return 200, json.dumps(result).encode()


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise errors.invalid_request("the request body is not valid JSON") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients' connection pools work
    server_version = "SimulatedPowerFlexGateway"
    timeout = 60  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: GatewayHTTPServer

    def do_GET(self) -> None:
        self.server.set_busy(self.connection, True)
        try:
            self._serve()
        finally:
            self.server.set_busy(self.connection, False)

    do_POST = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        outcome = self.server.pipeline.handle(self.command, self.path, self.headers, body)
        if outcome.drop:
            self.close_connection = True  # the change happened; the client never hears
            return
        self.send_response(outcome.status)
        if outcome.body:
            self.send_header("Content-Type", outcome.content_type)
        self.send_header("Content-Length", str(len(outcome.body)))
        self.end_headers()
        self.wfile.write(outcome.body)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s - %s", self.address_string(), format % args)


class GatewayHTTPServer(ThreadingHTTPServer):
    """A threading HTTP(S) server on 127.0.0.1 that can close idle connections."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, port: int, pipeline: Pipeline, context: ssl.SSLContext | None) -> None:
        self.pipeline = pipeline
        self._context = context
        self._connections: dict[socket.socket, bool] = {}
        self._connections_lock = threading.Lock()
        self.peak_connections = 0  # most client connections open at once, for benchmarks
        super().__init__(("127.0.0.1", port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection = request
        try:
            if self._context is not None:
                request.settimeout(_Handler.timeout)
                connection = self._context.wrap_socket(request, server_side=True)
            with self._connections_lock:
                self._connections[connection] = False
                self.peak_connections = max(self.peak_connections, len(self._connections))
            _Handler(connection, client_address, self)
        except (OSError, ssl.SSLError) as exc:
            LOG.debug("connection from %s ended: %s", client_address, exc)
        finally:
            with self._connections_lock:
                self._connections.pop(connection, None)
            if connection is not request:
                connection.close()

    def reset_peak_connections(self) -> None:
        with self._connections_lock:
            self.peak_connections = len(self._connections)

    def set_busy(self, connection: socket.socket, busy: bool) -> None:
        with self._connections_lock:
            if connection in self._connections:
                self._connections[connection] = busy

    def close_connections(self, *, idle_only: bool) -> None:
        """Shut down client connections (all, or those between requests)."""
        with self._connections_lock:
            doomed = [c for c, busy in self._connections.items() if not (idle_only and busy)]
        for connection in doomed:
            try:
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def port(self) -> int:
        return int(self.server_address[1])
