"""Logging in and out, per generation, and the token check of every request.

Every generation serves the legacy ``GET /api/login`` (HTTP Basic, answers
the token as a JSON string) and ``GET /api/logout``: Dell's own 4.x/5.x
clients still log in that way (cinder, os-brick, goscaleio, PyPowerFlex's
``get_api_version``).  From 4.x on, PowerFlex Manager adds OAuth as Dell's
auth API files (11227, 4.5.5 and 5.0) document it: ``POST /rest/auth/login``,
``/update-token`` and ``/logout``, and ``Authorization: Bearer`` on ``/api``
and ``/dtapi``.  On 4.x/5.x either token works in either header (goscaleio
sends the legacy token as Bearer from 4.0, PyPowerFlex 1.5.0 sent the access
token as the Basic password).  A 3.x gateway knows only Basic and answers
``/rest/auth`` with 404.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sio_backend.simulator import errors
from sio_backend.simulator.generations import Generation
from sio_backend.simulator.params import Body
from sio_backend.simulator.routing import EMPTY, NO_CONTENT, Request, Route, route
from sio_backend.simulator.sessions import SessionStore


class AuthApi:
    """The login routes one generation serves, and its token check."""

    def __init__(self, sessions: SessionStore, generation: Generation) -> None:
        self.sessions = sessions
        self._oauth = generation.manager

    def routes(self) -> list[Route]:
        table = [
            route("GET", "/api/login", self.login, public=True),
            route("GET", "/api/logout", self.logout),
        ]
        if self._oauth:
            # Public for the pipeline: logout checks its own Bearer token.
            table += [
                route("POST", "/rest/auth/login", self.oauth_login, public=True),
                route("POST", "/rest/auth/update-token", self.update_token, public=True),
                route("POST", "/rest/auth/logout", self.oauth_logout, public=True),
            ]
        return table

    def authenticate(self, authorization: str | None) -> str:
        """The live token a request presents; 401 (HTML from 4.x on) otherwise."""
        scheme, _, value = (authorization or "").partition(" ")
        token = None
        if scheme.lower() == "bearer" and self._oauth:
            token = value.strip()
        elif scheme.lower() == "basic":
            token = self._basic_credentials(authorization)[1]
        if not token:
            raise errors.unauthorized(html=self._oauth)
        self.sessions.authenticate(token, oauth=self._oauth)
        return token

    # ---------------------------------------------------------------- legacy
    def login(self, request: Request) -> Any:
        username, password = self._basic_credentials(request.authorization)
        return self.sessions.login(username, password)

    def logout(self, request: Request) -> Any:
        if request.token is not None:
            self.sessions.logout(request.token)
        return EMPTY

    # ----------------------------------------------------------------- OAuth
    def oauth_login(self, request: Request) -> Any:
        body = request.body
        return self.sessions.oauth_login(_required(body, "username"), body.text("password") or "")

    def update_token(self, request: Request) -> Any:
        return self.sessions.update_token(_required(request.body, "refresh_token"))

    def oauth_logout(self, request: Request) -> Any:
        """The Bearer access token names the grant to end.  The API files say
        200, PyPowerFlex's ``_appliance_logout`` insists on 204: 204 it is."""
        scheme, _, value = (request.authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            raise errors.unauthorized(html=True)
        self.sessions.oauth_logout(value.strip())
        return NO_CONTENT

    def _basic_credentials(self, authorization: str | None) -> tuple[str, str]:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            raise errors.unauthorized(html=self._oauth)
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise errors.unauthorized(html=self._oauth) from None
        username, _, password = decoded.partition(":")
        return username, password


def _required(body: Body, key: str) -> str:
    """A field the auth API files mark required, refused in their error shape."""
    value = body.text(key)
    if not value:
        raise errors.PowerApiError(400, "BAD_REQUEST", f"{key} is required")
    return value
