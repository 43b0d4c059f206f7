"""Matching a request to a route, and what a handler may answer.

A route is an HTTP method, a URL template and a handler.  The route tables
themselves, one per concern and generation, are in ``auth``, ``routes`` and
``metrics``; this module only holds their common parts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sio_backend.simulator import errors
from sio_backend.simulator.errors import SimulatorError
from sio_backend.simulator.params import Body


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Body
    authorization: str | None = None
    token: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A handler's answer when it is not "200 with this JSON": a status and no body."""

    status: int


@dataclass(frozen=True)
class AfterLock:
    """A handler's answer still to be worked out once the model lock is
    released: slow data work (a snapshot's copy) that other requests must
    not wait for.  ``work`` returns what the handler would have."""

    work: Callable[[], Any]


EMPTY = Answer(200)
NO_CONTENT = Answer(204)

Handler = Callable[[Request], Any]
Table = list[tuple[str, str, Handler]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]
    public: bool = False


def route(method: str, template: str, handler: Handler, *, public: bool = False) -> Route:
    return Route(method, template, handler, _compile(template), public)


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = ""
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.escape(part)
        else:
            regex += f"(?P<{part}>.+)" if part == "name" else f"(?P<{part}>[^/]+)"
    return re.compile(f"^{regex}$")


def decode_name(raw: str) -> str:
    """Undo the double URL-encoding clients apply to names in paths."""
    return unquote(unquote(raw))


class Router:
    """Finds the route of a request among the routes one generation serves."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    def find(self, method: str, path: str) -> Route | None:
        """The route a request would take, if any (for logging faulted requests)."""
        try:
            return self.match(method, path)[0]
        except SimulatorError:
            return None

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        if re.search(r"%2f|%5c", path, re.IGNORECASE):
            # Like the gateway's servlet container: encoded slashes never reach it.
            raise errors.invalid_request(f"the URI {path} contains an encoded slash")
        path = path.rstrip("/") or "/"  # the legacy getByIp URL ends with a slash
        allowed = False
        for candidate in self.routes:
            found = candidate.pattern.match(path)
            if found is None:
                continue
            if candidate.method == method:
                return candidate, found.groupdict()
            allowed = True
        if allowed:
            raise SimulatorError(405, 0, f"Method {method} is not allowed for {path}")
        raise SimulatorError(404, 0, f"No gateway resource at {path}")
