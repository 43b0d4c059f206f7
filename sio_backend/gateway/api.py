"""The gateway's REST API as one call: authenticated, reads retried, answers decoded.

Any POST may be replayed (after a 401 re-login) or may have taken effect
although its answer was lost, so a change is sent once and its caller
confirms it from the volume's state.  Reads (GETs and the read-only query
actions) are different: asking again cannot do anything twice, so a read
whose connection dropped or that a busy gateway or proxy refused
(502/503/504) is simply sent again, a few times, within one
``rest_request_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import requests
from oslo_log import log as logging

from sio_backend.exceptions import (
    GatewayError,
    GatewayUnavailable,
    InvalidResponse,
    NotFound,
    TLSVerificationFailed,
)
from sio_backend.gateway.errors import error_for, restated
from sio_backend.gateway.session import Session
from sio_backend.gateway.transport import Transport
from sio_backend.gateway.wire import decode_json, decode_scalar

LOG = logging.getLogger(__name__)

# Reads are sent up to READ_ATTEMPTS times, waiting READ_RETRY_DELAY_S, then
# twice as long, between attempts; all of it within one rest_request_timeout.
READ_ATTEMPTS = 3
READ_RETRY_DELAY_S = 0.5
# POSTs that only read, so that asking again cannot change anything.
READ_ONLY_ACTIONS = frozenset({"queryIdByKey", "querySelectedStatistics", "queryBySelectedIds"})
READ_ONLY_PATHS = frozenset({"/dtapi/rest/v1/metrics/query"})


def is_read(method: str, path: str) -> bool:
    return (
        method == "GET"
        or path.rpartition("/action/")[2] in READ_ONLY_ACTIONS
        or path in READ_ONLY_PATHS
    )


class Api:
    """Requests as the resource modules make them: a path in, a value out."""

    def __init__(
        self,
        transport: Transport,
        session: Session,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.transport = transport
        self.session = session
        self.clock = clock
        self.sleep = sleep

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> requests.Response:
        """Send a request; a read whose answer was lost, or that a busy gateway
        refused, is sent again (a change never is: its callers confirm it)."""
        if not is_read(method, path):
            return self._call_once(method, path, body)
        started = self.clock()
        attempt = 1
        while True:
            try:
                return self._call_once(method, path, body)
            except GatewayUnavailable as error:
                delay = READ_RETRY_DELAY_S * 2 ** (attempt - 1)
                elapsed = self.clock() - started
                # Login failures keep their own single-flight handling, and an
                # untrusted certificate stays untrusted.
                if error.path != path or isinstance(error, TLSVerificationFailed):
                    raise
                # A read that has used up rest_request_timeout is not sent again.
                out_of_time = elapsed + delay > self.transport.timeout_s
                if attempt == 1 and out_of_time:
                    raise
                if attempt == READ_ATTEMPTS or out_of_time:
                    # Chained to what went wrong on the wire, as a first failure is.
                    raise self._gave_up(error, attempt, elapsed) from error.__cause__ or error
                LOG.warning(
                    "%s %s to the PowerFlex gateway %s failed (attempt %d of %d), trying "
                    "again in %.1f s: %s",
                    method,
                    path,
                    self.transport.endpoint,
                    attempt,
                    READ_ATTEMPTS,
                    delay,
                    error.message,
                )
                self.sleep(delay)
            attempt += 1

    def _gave_up(self, error: GatewayUnavailable, attempts: int, elapsed: float) -> GatewayError:
        advice = (
            ""
            if error.status is None  # transport failures already say what to check
            else f": check that the gateway {self.transport.endpoint} and any proxy in front "
            "of it are up and not overloaded"
        )
        return restated(
            error, f"{error.message}; gave up after {attempts} attempts in {elapsed:.1f} s{advice}"
        )

    def _call_once(
        self, method: str, path: str, body: Mapping[str, Any] | None
    ) -> requests.Response:
        response = self.session.send(method, path, body)
        if not response.ok:
            raise error_for(response, method, path)
        return response

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        parse: Callable[[Any], Any] = lambda data: data,
    ) -> Any:
        """The answer's JSON, through ``parse``; a parse failure names the request."""
        response = self.call(method, path, body)
        try:
            return parse(decode_json(response))
        except InvalidResponse as error:
            raise InvalidResponse(
                error.message, status=response.status_code, method=method, path=path
            ) from None

    def scalar(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> str | None:
        """A bare id or version string; None when the gateway found nothing."""
        response = self.call(method, path, body)
        try:
            return decode_scalar(response)
        except InvalidResponse as error:
            raise InvalidResponse(
                error.message, status=response.status_code, method=method, path=path
            ) from None

    def query_id(self, type_name: str, key: Mapping[str, str]) -> str | None:
        path = f"/api/types/{type_name}/instances/action/queryIdByKey"
        try:
            return self.scalar("POST", path, key)
        except NotFound:
            return None
