"""How the client proves who it is: the gateway's login dialects.

A login yields a :class:`Grant`; :class:`~sio_backend.gateway.session.Session`
decides when to get a new one.  Nothing here logs a password or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oslo_log import log as logging

from sio_backend.exceptions import AuthenticationFailed
from sio_backend.gateway.errors import error_for
from sio_backend.gateway.transport import Transport
from sio_backend.gateway.wire import token_from

LOG = logging.getLogger(__name__)

# The gateway drops a legacy token after 10 minutes without use and 8 hours
# after login; renewing a little earlier avoids a 401 round trip.
IDLE_RENEWAL_S = 9 * 60.0
ABSOLUTE_RENEWAL_S = 7 * 3600.0 + 50 * 60.0


@dataclass(frozen=True)
class Grant:
    """What one login obtained."""

    token: str
    obtained_at: float


class LegacyLogin:
    """``GET /api/login`` with Basic credentials; the token goes as the Basic password."""

    name = "legacy"
    describe = "legacy login, GET /api/login"

    def __init__(self, transport: Transport, username: str, password: str) -> None:
        self._transport = transport
        self.username = username
        self._password = password

    def login(self, now: float) -> Grant:
        path = "/api/login"
        response = self._transport.send("GET", path, None, auth=(self.username, self._password))
        if not response.ok:
            error = error_for(response, "GET", path)
            raise AuthenticationFailed(
                f"login to the PowerFlex gateway {self._transport.endpoint} as "
                f"{self.username!r} was refused ({error.message}); check [scaleio] "
                "rest_server_username and rest_server_password",
                status=response.status_code,
                error_code=error.error_code,
                method="GET",
                path=path,
            )
        token = token_from(response.text)
        if token is None:
            raise AuthenticationFailed(
                f"the PowerFlex gateway {self._transport.endpoint} answered the login without "
                "a usable token; check that rest_server_ip and rest_server_port point at the "
                "gateway",
                status=response.status_code,
                method="GET",
                path=path,
            )
        return Grant(token, now)

    def credentials(self, grant: Grant) -> dict[str, Any]:
        """How a request presents the grant (keyword arguments of Transport.send)."""
        return {"auth": (self.username, grant.token)}

    @staticmethod
    def stale(grant: Grant, now: float, last_used: float) -> str | None:
        """Why the grant should be renewed before it is used again, if it should."""
        if now - grant.obtained_at >= ABSOLUTE_RENEWAL_S:
            return "it is close to its 8 hour limit"
        if now - last_used >= IDLE_RENEWAL_S:
            return "it has been idle for too long"
        return None

    def logout(self, grant: Grant) -> None:
        """Nothing: a legacy token may be shared, and logout would end it for all."""
