"""Gateway login sessions: tokens, their two expiry clocks and their limit.

A real gateway expires a token after 10 minutes without use and 8 hours after
login, says nothing about it in advance, and answers 401 afterwards.  Logout
kills the token for everybody holding it, and a restart kills all tokens.
The clock is injectable so tests can move time instead of waiting for it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sio_backend.simulator import errors


@dataclass
class _Session:
    created: float
    last_used: float


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.username = username
        self.password = password
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._issued: list[str] = []
        self._lock = threading.Lock()

    def login(self, username: str, password: str) -> str:
        """Check the credentials and open a session; returns the token."""
        if not (
            secrets.compare_digest(username.encode(), self.username.encode())
            and secrets.compare_digest(password.encode(), self.password.encode())
        ):
            raise errors.unauthorized()
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            if len(self._sessions) >= self.max_sessions:
                raise errors.TOO_MANY_SESSIONS.error()
            token = self._new_token(username)
            self._sessions[token] = _Session(created=now, last_used=now)
            self._issued.append(token)
        return token

    def authenticate(self, token: str) -> None:
        """Accept a live token and count this use as activity; 401 otherwise."""
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None or self._expired(session, now):
                self._sessions.pop(token, None)
                raise errors.unauthorized()
            session.last_used = now

    def logout(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()

    def issued_tokens(self) -> tuple[str, ...]:
        """Every token ever issued, expired ones included: the secrets tests
        check logs for."""
        with self._lock:
            return tuple(self._issued)

    def active_count(self) -> int:
        with self._lock:
            self._drop_expired(self._clock())
            return len(self._sessions)

    def _expired(self, session: _Session, now: float) -> bool:
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
