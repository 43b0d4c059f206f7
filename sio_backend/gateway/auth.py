"""How the client proves who it is: the gateway's login dialects.

* legacy (every generation, the only one on 3.x): ``GET /api/login`` with
  HTTP Basic; the token goes back as the Basic password.  It has no stated
  lifetime: the gateway drops it after 10 minutes idle or 8 hours.
* OAuth (PowerFlex 4.x and 5.x, the only login Dell's 4.5 and 5.0 API files
  document): ``POST /rest/auth/login`` answers ``access_token``,
  ``expires_in``, ``refresh_token``, ``refresh_expires_in``; requests carry
  ``Authorization: Bearer``; ``POST /rest/auth/update-token`` renews before
  ``expires_in`` runs out; ``POST /rest/auth/logout`` ends the session.
* auto: OAuth where ``/rest/auth/login`` is served, legacy where it is not
  (see :class:`AutoLogin`).

A login yields a :class:`Grant`; :class:`~sio_backend.gateway.session.Session`
decides when to renew it.  Nothing here logs a password or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests
from oslo_log import log as logging

from sio_backend.exceptions import AuthenticationFailed, ConfigurationError, GatewayError
from sio_backend.gateway.errors import error_for
from sio_backend.gateway.transport import Transport
from sio_backend.gateway.wire import (
    NOT_JSON,
    decode_scalar,
    number,
    parse_version,
    token_from,
    usable_token,
)

LOG = logging.getLogger(__name__)

AUTH_METHODS = ("auto", "legacy", "oauth")
# The gateway drops a legacy token after 10 minutes without use and 8 hours
# after login; renewing a little earlier avoids a 401 round trip.
IDLE_RENEWAL_S = 9 * 60.0
ABSOLUTE_RENEWAL_S = 7 * 3600.0 + 50 * 60.0
# An OAuth token is renewed this long before expires_in runs out (or at half
# its life, when it is shorter than twice this).
RENEW_BEFORE_EXPIRY_S = 30.0
# Keycloak's default access-token lifetime, for an answer without expires_in.
DEFAULT_ACCESS_LIFETIME_S = 300.0
# How a gateway says it does not serve a path at all.
NOT_SERVED = frozenset({404, 405})


@dataclass(frozen=True)
class Grant:
    """What one login obtained: the token, and for OAuth when to renew it and how."""

    token: str
    obtained_at: float
    renew_at: float | None = None
    refresh_token: str | None = None
    refresh_until: float | None = None


class Login(Protocol):
    """One login dialect, as :class:`~sio_backend.gateway.session.Session` uses it."""

    username: str

    @property
    def name(self) -> str | None:
        """``legacy`` or ``oauth``; None until an automatic choice is made."""

    @property
    def describe(self) -> str:
        """Which login was used, for the log."""

    def login(self, now: float) -> Grant: ...

    def renew(self, grant: Grant, now: float) -> Grant: ...

    def credentials(self, grant: Grant) -> dict[str, Any]: ...

    def stale(self, grant: Grant, now: float, last_used: float) -> str | None: ...

    def logout(self, grant: Grant) -> None: ...


def _refused(transport: Transport, username: str, response: requests.Response, path: str) -> str:
    """Why a login failed, without the answer's body when it is not the gateway's JSON."""
    error = error_for(response, "POST" if path.startswith("/rest/") else "GET", path)
    return (
        f"login to the PowerFlex gateway {transport.endpoint} as {username!r} was refused "
        f"({error.message}); check [scaleio] rest_server_username and rest_server_password"
    )


class _PasswordLogin:
    """A login with the configured user and password, over one transport."""

    def __init__(self, transport: Transport, username: str, password: str) -> None:
        self._transport = transport
        self.username = username
        self._password = password


class LegacyLogin(_PasswordLogin):
    """``GET /api/login`` with Basic credentials; the token goes as the Basic password."""

    name = "legacy"
    describe = "legacy login, GET /api/login"

    def login(self, now: float) -> Grant:
        path = "/api/login"
        response = self._transport.send("GET", path, None, auth=(self.username, self._password))
        if not response.ok:
            raise AuthenticationFailed(
                _refused(self._transport, self.username, response, path),
                status=response.status_code,
                error_code=error_for(response, "GET", path).error_code,
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

    def renew(self, grant: Grant, now: float) -> Grant:
        """A legacy token cannot be refreshed: log in again."""
        return self.login(now)

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


class OAuthLogin(_PasswordLogin):
    """PowerFlex Manager's OAuth login (Dell's 4.5.5 and 5.0 auth API files)."""

    name = "oauth"
    describe = "OAuth, POST /rest/auth/login"

    def login(self, now: float) -> Grant:
        path = "/rest/auth/login"
        body = {"username": self.username, "password": self._password}
        response = self._transport.send("POST", path, body)
        if response.status_code in NOT_SERVED:
            raise LoginNotServed(
                f"the PowerFlex gateway {self._transport.endpoint} does not serve the OAuth "
                f"login (HTTP {response.status_code} for POST {path}); it is older than 4.0, "
                "so set [scaleio] rest_auth_method = auto or legacy",
                status=response.status_code,
                method="POST",
                path=path,
            )
        return self._grant_from(response, path, now)

    def renew(self, grant: Grant, now: float) -> Grant:
        """update-token while the refresh token lasts; a full login otherwise."""
        if grant.refresh_token is None or (
            grant.refresh_until is not None and now >= grant.refresh_until
        ):
            return self.login(now)
        path = "/rest/auth/update-token"
        try:
            response = self._transport.send("POST", path, {"refresh_token": grant.refresh_token})
            return self._grant_from(response, path, now)
        except AuthenticationFailed as error:
            LOG.info("Refreshing the gateway token failed (%s); logging in again", error.message)
            return self.login(now)

    def _grant_from(self, response: requests.Response, path: str, now: float) -> Grant:
        if not response.ok:
            raise AuthenticationFailed(
                _refused(self._transport, self.username, response, path),
                status=response.status_code,
                method="POST",
                path=path,
            )
        try:
            answer = response.json()
        except NOT_JSON:
            answer = None
        token = usable_token(answer.get("access_token")) if isinstance(answer, dict) else None
        if token is None:
            raise AuthenticationFailed(
                f"the PowerFlex gateway {self._transport.endpoint} answered POST {path} "
                "without a usable access_token; check that rest_server_ip and rest_server_port "
                "point at the PowerFlex Manager address",
                status=response.status_code,
                method="POST",
                path=path,
            )
        lifetime = _seconds(answer, "expires_in") or DEFAULT_ACCESS_LIFETIME_S
        refresh_lifetime = _seconds(answer, "refresh_expires_in")
        return Grant(
            token,
            now,
            renew_at=now + max(lifetime - RENEW_BEFORE_EXPIRY_S, lifetime / 2),
            refresh_token=usable_token(answer.get("refresh_token")),
            refresh_until=(
                None
                if refresh_lifetime is None
                else now + max(refresh_lifetime - RENEW_BEFORE_EXPIRY_S, refresh_lifetime / 2)
            ),
        )

    @staticmethod
    def credentials(grant: Grant) -> dict[str, Any]:
        return {"headers": {"Authorization": f"Bearer {grant.token}"}}

    @staticmethod
    def stale(grant: Grant, now: float, last_used: float) -> str | None:
        if grant.renew_at is not None and now >= grant.renew_at:
            return "its expires_in is about to run out"
        return None

    def logout(self, grant: Grant) -> None:
        """End the session (PowerFlex counts them); a failure is only logged."""
        path = "/rest/auth/logout"
        body = {"refresh_token": grant.refresh_token} if grant.refresh_token else {}
        try:
            response = self._transport.send("POST", path, body, **self.credentials(grant))
        except GatewayError as error:
            LOG.warning("Could not log out of the PowerFlex gateway: %s", error.message)
            return
        # PyPowerFlex expects 204, Dell's API file says 200.
        if not response.ok:
            LOG.warning(
                "The PowerFlex gateway %s answered the logout with HTTP %s; the session "
                "ends when its token expires",
                self._transport.endpoint,
                response.status_code,
            )


class LoginNotServed(AuthenticationFailed):
    """The gateway does not serve this login path (HTTP 404 or 405)."""


def _seconds(answer: dict[str, Any], key: str) -> float | None:
    """Keycloak sends numbers; Dell's API file types these as strings."""
    if answer.get(key) is None:
        return None
    try:
        value = number(answer, key, "the login answer")
    except GatewayError:
        return None
    return float(value) if value > 0 else None


class AutoLogin:
    """OAuth where the gateway serves it, legacy where it does not; chosen at the first login.

    ``POST /rest/auth/login`` answered 404 or 405 means a gateway older than
    4.0: legacy.  Refused credentials there could also be a 3.x gateway that
    guards every unknown path, so the legacy login is tried, and the API
    version it reads decides: a 3.x gateway keeps the legacy login, a 4.x or
    5.x one that refused OAuth but took the same credentials over Basic is an
    error naming ``rest_auth_method``, so that nothing falls back silently.
    """

    def __init__(self, transport: Transport, username: str, password: str) -> None:
        self._transport = transport
        self.username = username
        self._oauth = OAuthLogin(transport, username, password)
        self._legacy = LegacyLogin(transport, username, password)
        self._chosen: OAuthLogin | LegacyLogin | None = None
        self._reason = ""

    @property
    def name(self) -> str | None:
        return None if self._chosen is None else self._chosen.name

    @property
    def describe(self) -> str:
        chosen = self._chosen.describe if self._chosen else "not logged in yet"
        return f"{chosen}; chosen by rest_auth_method = auto: {self._reason}"

    def login(self, now: float) -> Grant:
        if self._chosen is not None:
            return self._chosen.login(now)
        try:
            grant = self._oauth.login(now)
        except LoginNotServed as error:
            self._chosen = self._legacy
            self._reason = f"POST /rest/auth/login answered HTTP {error.status}"
            return self._legacy.login(now)
        except AuthenticationFailed as refused:
            return self._legacy_after(refused, now)
        self._chosen, self._reason = self._oauth, "the gateway serves it"
        return grant

    def _legacy_after(self, refused: AuthenticationFailed, now: float) -> Grant:
        try:
            grant = self._legacy.login(now)
        except AuthenticationFailed:
            raise refused from None
        response = self._transport.send(
            "GET", "/api/version", None, **self._legacy.credentials(grant)
        )
        if not response.ok:
            raise error_for(response, "GET", "/api/version")
        version = parse_version(decode_scalar(response))
        if version < (4, 0):
            self._chosen = self._legacy
            self._reason = (
                f"API {version[0]}.{version[1]}, whose gateway refused POST /rest/auth/login "
                f"with HTTP {refused.status}"
            )
            return grant
        raise AuthenticationFailed(
            f"the PowerFlex gateway {self._transport.endpoint} (API {version[0]}.{version[1]}) "
            f"refused the OAuth login as {self.username!r} but accepted the same credentials "
            "on the legacy GET /api/login; fix the user's access in PowerFlex Manager, or set "
            "[scaleio] rest_auth_method = legacy to use the legacy login",
            status=refused.status,
            method="POST",
            path="/rest/auth/login",
        )

    def _delegate(self) -> OAuthLogin | LegacyLogin:
        if self._chosen is None:
            raise AuthenticationFailed("not logged in to the PowerFlex gateway yet")
        return self._chosen

    def renew(self, grant: Grant, now: float) -> Grant:
        return self._delegate().renew(grant, now)

    def credentials(self, grant: Grant) -> dict[str, Any]:
        return self._delegate().credentials(grant)

    def stale(self, grant: Grant, now: float, last_used: float) -> str | None:
        return self._delegate().stale(grant, now, last_used)

    def logout(self, grant: Grant) -> None:
        self._delegate().logout(grant)


def login_for(method: str, transport: Transport, username: str, password: str) -> Login:
    """The login of ``[scaleio] rest_auth_method``."""
    if method == "auto":
        return AutoLogin(transport, username, password)
    if method == "oauth":
        return OAuthLogin(transport, username, password)
    if method == "legacy":
        return LegacyLogin(transport, username, password)
    raise ConfigurationError(
        f"[scaleio] rest_auth_method {method!r} is invalid; use one of {', '.join(AUTH_METHODS)}"
    )
