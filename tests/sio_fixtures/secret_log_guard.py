"""Fail any functional test whose log records contain a secret.

Every functional test runs with every logger at DEBUG (urllib3 and requests
included, which would show request lines and headers if anything passed
them to a log) and enabled, and every record any logger handles is kept,
formatted, tracebacks included.  Records are taken where loggers hand them
to their handlers (``Logger.callHandlers``), not by a handler on the root
logger: nova's test fixtures replace the root handlers, and a logger that
does not propagate would bypass them.  When the test ends, the records are
searched for the password of every simulator the test made, every token
those simulators issued, and the Basic ``Authorization`` values made of
them, plus any secret a test adds with :meth:`SecretLogGuard.add_secret`.
A hit fails the test, naming the logger and showing the line with the
secret blanked out.

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

from sio_backend.simulator import Simulator

# Made before each test so that they too are lowered to DEBUG.
_HTTP_LOGGERS = ("urllib3", "urllib3.connectionpool", "requests")
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


def _every_logger() -> list[logging.Logger]:
    for name in _HTTP_LOGGERS:
        logging.getLogger(name)
    known = list(logging.root.manager.loggerDict.values())
    return [logging.root, *(item for item in known if isinstance(item, logging.Logger))]


@pytest.fixture(autouse=True, name="secret_log_guard")
def guard_every_test(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SecretLogGuard]:
    guard = SecretLogGuard()
    make_simulator = Simulator.__init__

    def make_and_watch(simulator: Simulator, *args: Any, **kwargs: Any) -> None:
        make_simulator(simulator, *args, **kwargs)
        guard.watch(simulator)

    # However a test makes its simulators (fixtures, nova test cases, demo cloud).
    monkeypatch.setattr(Simulator, "__init__", make_and_watch)
    for logger in _every_logger():
        if logger.level > logging.DEBUG or logger is logging.root:
            monkeypatch.setattr(logger, "level", logging.DEBUG)
        if logger.disabled:
            monkeypatch.setattr(logger, "disabled", False)
    call_handlers = logging.Logger.callHandlers

    def call_handlers_and_keep(logger: logging.Logger, record: logging.LogRecord) -> None:
        guard.handle(record)
        call_handlers(logger, record)

    monkeypatch.setattr(logging.Logger, "callHandlers", call_handlers_and_keep)
    logging.root.manager._clear_cache()  # isEnabledFor caches levels per logger
    yield guard
    monkeypatch.undo()
    logging.root.manager._clear_cache()
    leaks = guard.leaks()
    if leaks:
        pytest.fail(
            f"{request.node.nodeid} logged a password or token in {len(leaks)} record(s):\n"
            + "\n".join(leaks),
            pytrace=False,
        )
