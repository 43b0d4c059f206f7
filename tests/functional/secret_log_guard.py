"""Fail any functional test whose log records contain a secret.

Every functional test runs with the root logger, urllib3 and requests at
DEBUG and a handler that keeps each formatted record (tracebacks included).
When the test ends, the records are searched for the password of every
simulator the test started, every token those simulators issued, and the
Basic ``Authorization`` values made of them, plus any secret a test adds
with :meth:`SecretLogGuard.add_secret`.  A hit fails the test, naming the
logger and showing the line with the secret blanked out.

``tests/functional/conftest.py`` imports the autouse fixture
:func:`guard_every_test`, named ``secret_log_guard`` (``pytest_plugins`` is
refused in a conftest below the top level).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

# Loggers raised to DEBUG for each test: the root, and the HTTP stack that
# would show request lines and headers if anything passed them to a log.
_DEBUG_LOGGERS = ("", "urllib3", "requests")
_FORMAT = "%(name)s %(levelname)s %(message)s"
_BLANK = "<secret>"


def spellings(username: str, secret: str) -> set[str]:
    """How a secret shows up: itself, and in a Basic Authorization header."""
    basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
    return {secret, basic, basic.rstrip("=")}


def leaked(lines: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The lines holding any of ``secrets``, with the secrets blanked out."""
    wanted = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
    found = []
    for line in lines:
        if any(secret in line for secret in wanted):
            blanked = line
            for secret in wanted:
                blanked = blanked.replace(secret, _BLANK)
            found.append(blanked)
    return found


class SecretLogGuard(logging.Handler):
    """Keeps every log record of one test and knows the secrets to look for."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(_FORMAT))
        self.lines: list[str] = []
        self._simulators: list[Any] = []
        self._secrets: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a broken record must not hide the others
            self.lines.append(f"{record.name} {record.levelname} {record.msg!r} {record.args!r}")

    def watch(self, simulator: Any) -> None:
        """Look for this simulator's password and every token it issues."""
        self._simulators.append(simulator)

    def add_secret(self, secret: str, username: str = "admin") -> None:
        self._secrets.append((username, secret))

    def secrets(self) -> set[str]:
        pairs = list(self._secrets)
        for simulator in self._simulators:
            pairs.append((simulator.username, simulator.password))
            pairs.extend((simulator.username, t) for t in simulator.sessions.issued_tokens())
        return {spelling for user, secret in pairs for spelling in spellings(user, secret)}

    def leaks(self) -> list[str]:
        return leaked(self.lines, self.secrets())


@pytest.fixture(autouse=True, name="secret_log_guard")
def guard_every_test(request: pytest.FixtureRequest) -> Iterator[SecretLogGuard]:
    guard = SecretLogGuard()
    loggers = [logging.getLogger(name) for name in _DEBUG_LOGGERS]
    levels = [logger.level for logger in loggers]
    root = loggers[0]
    root.addHandler(guard)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield guard
    finally:
        root.removeHandler(guard)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    leaks = guard.leaks()
    if leaks:
        pytest.fail(
            f"{request.node.nodeid} logged a password or token in {len(leaks)} record(s):\n"
            + "\n".join(leaks),
            pytrace=False,
        )
