"""One gateway session shared by every thread: a grant, renewed in time, once.

Renewal is single flight: of all threads refused with one grant, only the
first logs in and the others reuse what it got; and when that login fails,
the threads that waited for it fail the same way instead of each waiting
out a dead gateway in turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests
from oslo_log import log as logging

from sio_backend.exceptions import AuthenticationFailed, GatewayError
from sio_backend.gateway.auth import Grant, Login
from sio_backend.gateway.errors import restated
from sio_backend.gateway.transport import Transport

LOG = logging.getLogger(__name__)

AUTH_FAILURES = frozenset({401, 403})


class Session:
    """Sends requests with a valid grant, logging in again once when refused."""

    def __init__(self, transport: Transport, login: Login, clock: Callable[[], float]) -> None:
        self._transport = transport
        self._login = login
        self._clock = clock
        self._lock = threading.Lock()
        self._grant: Grant | None = None
        self._last_used = 0.0
        self._attempts = 0  # finished login attempts
        self._failure: GatewayError | None = None

    def grant(self) -> Grant:
        """The current grant, after a login or renewal if it is missing or stale."""
        attempts_seen = self._attempts
        with self._lock:
            if self._grant is not None:
                reason = self._login.stale(self._grant, self._clock(), self._last_used)
                if reason is None:
                    return self._grant
                LOG.debug("Renewing the gateway session: %s", reason)
            return self._login_locked(attempts_seen, self._grant)

    def send(self, method: str, path: str, body: Mapping[str, Any] | None) -> requests.Response:
        """One request; a refused grant (401 or 403, whatever the body) is renewed once."""
        grant = self.grant()
        response = self._send(method, path, body, grant)
        if response.status_code in AUTH_FAILURES:
            LOG.info(
                "The PowerFlex gateway %s refused the session token (HTTP %s); logging in again",
                self._transport.endpoint,
                response.status_code,
            )
            response = self._send(method, path, body, self._renew_after_refusal(grant))
            if response.status_code in AUTH_FAILURES:
                raise AuthenticationFailed(
                    "the gateway refused the request even with a fresh token; check that "
                    "[scaleio] rest_server_username and rest_server_password are right and "
                    "that the user's role allows this operation",
                    status=response.status_code,
                    method=method,
                    path=path,
                )
        return response

    @property
    def auth_method(self) -> str | None:
        """``legacy`` or ``oauth`` once logged in."""
        return self._login.name

    def close(self) -> None:
        """Log out, where the login dialect has a logout of its own."""
        with self._lock:
            grant, self._grant = self._grant, None
        if grant is not None:
            self._login.logout(grant)

    def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None, grant: Grant
    ) -> requests.Response:
        started = self._clock()
        response = self._transport.send(method, path, body, **self._login.credentials(grant))
        if response.status_code not in AUTH_FAILURES:
            self._last_used = max(self._last_used, started)
        return response

    def _renew_after_refusal(self, failed: Grant) -> Grant:
        attempts_seen = self._attempts
        with self._lock:
            if self._grant is not None and self._grant != failed:
                return self._grant
            return self._login_locked(attempts_seen, failed)

    def _login_locked(self, attempts_seen: int, previous: Grant | None = None) -> Grant:
        """Log in (or renew ``previous``), unless another thread's attempt failed
        while this one waited for the lock: then fail the same way, so a dead
        gateway costs every waiting thread one timeout, not one each in turn."""
        failure = self._failure
        if failure is not None and self._attempts != attempts_seen:
            raise restated(failure, failure.message) from failure
        self._grant = None
        now = self._clock()
        try:
            grant = self._login.login(now) if previous is None else self._login.renew(previous, now)
        except GatewayError as error:
            self._failure = error
            raise
        finally:
            self._attempts += 1
        LOG.info(
            "Logged in to the PowerFlex gateway %s as %s (%s)",
            self._transport.endpoint,
            self._login.username,
            self._login.describe,
        )
        self._grant, self._last_used, self._failure = grant, grant.obtained_at, None
        return grant
