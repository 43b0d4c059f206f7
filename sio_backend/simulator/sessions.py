"""Gateway login sessions: tokens, their expiry clocks and their limit.

Legacy sessions (``GET /api/login``, every generation): a real gateway expires
a token after 10 minutes without use and 8 hours after login, says nothing
about it in advance, and answers 401 afterwards.  Logout kills the token for
everybody holding it, and a restart kills all tokens.

OAuth grants (``POST /rest/auth/login``, 4.x and later, PowerFlex Manager's
Keycloak): an access token good for ``expires_in`` seconds from its issue, and
a refresh token good for ``refresh_expires_in`` that ``update-token`` trades
for a fresh pair; logout ends the grant and every token of it.

The clock is injectable so tests can move time instead of waiting for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sio_backend.simulator import errors


@dataclass
class _Session:
    created: float
    last_used: float


@dataclass
class _Grant:
    """One OAuth login: its live tokens and when each expires."""

    access: dict[str, float] = field(default_factory=dict)
    refresh: dict[str, float] = field(default_factory=dict)


class SessionStore:
    """Issues and checks tokens for one gateway user."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        idle_timeout: float = 600.0,
        absolute_timeout: float = 8 * 3600.0,
        max_sessions: int = 256,
        access_token_lifetime: float = 300.0,
        refresh_token_lifetime: float = 1800.0,
        html_refusals: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.username = username
        self.password = password
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.max_sessions = max_sessions
        self.access_token_lifetime = access_token_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self._html_refusals = html_refusals  # 4.x/5.x refuse tokens with a web page
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._grants: dict[str, _Grant] = {}
        self._issued: list[str] = []
        self._lock = threading.Lock()

    def login(self, username: str, password: str) -> str:
        """Check the credentials and open a session; returns the token."""
        if not self._valid(username, password):
            raise errors.unauthorized(html=self._html_refusals)
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            if len(self._sessions) >= self.max_sessions:
                raise errors.TOO_MANY_SESSIONS.error()
            token = self._new_token(username)
            self._sessions[token] = _Session(created=now, last_used=now)
            self._issued.append(token)
        return token

    def authenticate(self, token: str, *, oauth: bool = False) -> None:
        """Accept a live session token (or, with ``oauth``, a live access
        token) and count this use as activity; 401 otherwise."""
        now = self._clock()
        with self._lock:
            if oauth and self._grant_of(token, "access", now) is not None:
                return
            session = self._sessions.get(token)
            if session is None or self._expired(session, now):
                self._sessions.pop(token, None)
                raise errors.unauthorized(html=self._html_refusals)
            session.last_used = now

    def logout(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._grants.clear()

    # ------------------------------------------------------------- OAuth
    def oauth_login(self, username: str, password: str) -> dict[str, Any]:
        """``POST /rest/auth/login``: a new grant, as a LoginResponse."""
        if not self._valid(username, password):
            raise errors.PowerApiError(401, "UNAUTHORIZED", "Invalid user credentials")
        with self._lock:
            grant_id = secrets.token_hex(16)
            self._grants[grant_id] = _Grant()
            return self._issue(grant_id, self._clock())

    def update_token(self, refresh_token: str) -> dict[str, Any]:
        """``POST /rest/auth/update-token``: a fresh pair for a live refresh token."""
        with self._lock:
            now = self._clock()
            grant_id = self._grant_of(refresh_token, "refresh", now)
            if grant_id is None:
                raise errors.PowerApiError(401, "UNAUTHORIZED", "Token is not active: log in again")
            return self._issue(grant_id, now)

    def oauth_logout(self, access_token: str) -> None:
        """``POST /rest/auth/logout``: end the grant, every token of it."""
        with self._lock:
            grant_id = self._grant_of(access_token, "access", self._clock())
            if grant_id is None:
                raise errors.unauthorized(html=self._html_refusals)
            del self._grants[grant_id]

    def _grant_of(self, token: str, kind: str, now: float) -> str | None:
        """The live grant a live token of this kind belongs to (lock held)."""
        for grant_id, grant in self._grants.items():
            expires = getattr(grant, kind).get(token)
            if expires is not None:
                return grant_id if now < expires else None
        return None

    def _issue(self, grant_id: str, now: float) -> dict[str, Any]:
        grant = self._grants[grant_id]
        access = _jwt(self.username, self.access_token_lifetime, "Bearer")
        refresh = _jwt(self.username, self.refresh_token_lifetime, "Refresh")
        id_token = _jwt(self.username, self.access_token_lifetime, "ID")
        grant.access[access] = now + self.access_token_lifetime
        grant.refresh[refresh] = now + self.refresh_token_lifetime
        self._issued += [access, refresh, id_token]
        # The 4.5.5/5.0 auth API files' LoginResponse; the lifetimes are numbers,
        # as Keycloak and RFC 6749 5.1 send them (the files type them as strings).
        return {
            "access_token": access,
            "expires_in": int(self.access_token_lifetime),
            "refresh_expires_in": int(self.refresh_token_lifetime),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "id_token": id_token,
            "session_state": grant_id,
            "scope": "openid profile email",
        }

    def _valid(self, username: str, password: str) -> bool:
        return secrets.compare_digest(
            username.encode(), self.username.encode()
        ) and secrets.compare_digest(password.encode(), self.password.encode())

    def issued_tokens(self) -> tuple[str, ...]:
        """Every token ever issued, expired ones included: the secrets tests
        check logs for."""
        with self._lock:
            return tuple(self._issued)

    def active_count(self) -> int:
        with self._lock:
            self._drop_expired(self._clock())
            return len(self._sessions)

    def _expired(self, session: _Session, now: float) -> bool:  # legacy sessions
        return (
            now - session.last_used >= self.idle_timeout
            or now - session.created >= self.absolute_timeout
        )

    def _drop_expired(self, now: float) -> None:
        for token in [t for t, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[token]

    @staticmethod
    def _new_token(username: str) -> str:
        """Shaped like a real token (base64 of user:epoch_ms:md5, unpadded); opaque."""
        digest = hashlib.md5(secrets.token_bytes(16), usedforsecurity=False).hexdigest()
        raw = f"{username}:{int(time.time() * 1000)}:{digest}".encode()
        return base64.b64encode(raw).decode().rstrip("=")


def _jwt(username: str, lifetime: float, kind: str) -> str:
    """Shaped like Keycloak's tokens (three base64url parts, ``exp`` in epoch
    seconds); the simulator itself never reads them back."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"exp": int(time.time() + lifetime), "jti": secrets.token_hex(16), "typ": kind}
    claims["preferred_username"] = username
    return ".".join((part({"alg": "RS256", "typ": "JWT"}), part(claims), secrets.token_urlsafe(32)))
