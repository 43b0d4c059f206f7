"""Error answers of the gateway, turned into typed exceptions.

Callers catch a class, never compare error numbers: the gateway's errorCode
values shift between PowerFlex releases (81 became 4037 in 4.x), so the
mapping from codes to classes lives here, in one table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests

from sio_backend.exceptions import (
    AlreadyInPool,
    AlreadyMapped,
    AuthenticationFailed,
    BadRequest,
    GatewayError,
    GatewayUnavailable,
    MigrationInProgress,
    NameInUse,
    NotFound,
    NotMapped,
    ShrinkNotAllowed,
    SingleMappingOnly,
    SnapshotLimit,
    VolumeMapped,
)
from sio_backend.gateway.wire import NOT_JSON, snippet

# A proxy or load balancer in front of the gateway answers these itself.
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})

# Each meaning is a set of codes: PowerFlex renumbered some in 4.x (81 became
# 4037, 84 became 4039; os-brick 42d9a89 and 97e89d8) and 3.5 renumbered
# "volume not found" (78 before, 79 since; cinder f75b2865f).
_CODE_SETS: tuple[tuple[frozenset[int], type[GatewayError]], ...] = (
    (frozenset({3, 78, 79, 142}), NotFound),
    (frozenset({81, 4037}), AlreadyMapped),
    (frozenset({84, 4039}), NotMapped),
    (frozenset({99}), NameInUse),
    (frozenset({104}), VolumeMapped),
    (frozenset({133}), ShrinkNotAllowed),
    (frozenset({297, 306}), SingleMappingOnly),
    (frozenset({717}), MigrationInProgress),
    (frozenset({718}), AlreadyInPool),
)
_BY_ERROR_CODE: dict[int, type[GatewayError]] = {
    code: cls for codes, cls in _CODE_SETS for code in codes
}

_BY_RC: dict[int, type[GatewayError]] = {182: SnapshotLimit}

# Used when the code is missing or unknown (they move between releases).
_BY_MESSAGE: tuple[tuple[str, type[GatewayError]], ...] = (
    ("already in use", NameInUse),
    ("could not find", NotFound),
    ("not found", NotFound),
    ("already mapped to this sdc", AlreadyMapped),
    ("single sdc", SingleMappingOnly),
    ("is not mapped", NotMapped),
    ("volume is mapped", VolumeMapped),
    ("too many snapshots", SnapshotLimit),
)


def error_class_for(
    status: int | None, error_code: int | None, rc: int | None, message: str
) -> type[GatewayError]:
    """Pick the exception class for an error answer from the gateway."""
    if status in (401, 403):
        return AuthenticationFailed
    if rc is not None and rc in _BY_RC:
        return _BY_RC[rc]
    if error_code is not None and error_code in _BY_ERROR_CODE:
        return _BY_ERROR_CODE[error_code]
    lowered = message.lower()
    for needle, cls in _BY_MESSAGE:
        if needle in lowered:
            return cls
    if status == 400:
        return BadRequest
    return GatewayError


def error_body(
    response: requests.Response,
) -> tuple[str, int | None, int | None, list[Any], bool]:
    """Message, errorCode, first details rc, details, and whether the body was JSON.

    HTML, plain text and truncated bodies yield no codes, so they are
    classified by HTTP status alone: a proxy's "Not Found" page must never
    read as "volume already gone".
    """
    body_text = response.text
    try:
        body = json.loads(body_text)
    except NOT_JSON:
        body = None
    if not isinstance(body, Mapping):
        if not body_text.strip():
            return f"empty answer ({response.reason or 'no reason given'})", None, None, [], False
        kind = response.headers.get("Content-Type") or "untyped"
        readable = snippet(re.sub(r"<[^>]*>", " ", body_text))
        return f"unexpected {kind} answer: {readable}", None, None, [], False
    details = body.get("details")
    details = (
        [item for item in details if isinstance(item, Mapping)] if isinstance(details, list) else []
    )
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    if details and message in ("", "Error with details"):
        message = str(details[0].get("errorMessage") or message)
    message = message or _power_api_message(body)
    message = message or f"HTTP {response.status_code} without a message: {snippet(body_text)}"
    return (
        message,
        _code(body.get("errorCode")),
        _code(details[0].get("rc")) if details else None,
        details,
        True,
    )


def _code(value: Any) -> int | None:
    """A code as a number, whether the gateway sent 4037 or "4037"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _power_api_message(body: Mapping[str, Any]) -> str:
    """PowerFlex Manager's own endpoints answer ``{"messages": [{"message": ...}]}``."""
    messages = body.get("messages")
    if isinstance(messages, list):
        texts = [
            item["message"]
            for item in messages
            if isinstance(item, Mapping) and isinstance(item.get("message"), str)
        ]
        return "; ".join(texts)
    return ""


def not_served(error: GatewayError) -> bool:
    """The gateway does not serve the path at all (another generation's dialect).

    HTTP 404 or 405 without an error code: an object the gateway cannot find
    is HTTP 500 with a code (79 for a volume), so the two cannot be confused.
    """
    return error.status in (404, 405) and not error.error_code and error.rc is None


def restated(error: GatewayError, message: str) -> GatewayError:
    """The same failure (class, codes, request) told with another message."""
    return type(error)(
        message,
        status=error.status,
        error_code=error.error_code,
        rc=error.rc,
        details=error.details,
        method=error.method,
        path=error.path,
    )


def error_for(response: requests.Response, method: str, path: str) -> GatewayError:
    """Turn an error answer into a typed exception, whatever its body holds."""
    status = response.status_code
    message, error_code, rc, details, parsed = error_body(response)
    cls = error_class_for(status, error_code, rc, message if parsed else "")
    if cls is GatewayError and status in UNAVAILABLE_STATUSES:
        cls = GatewayUnavailable
    return cls(
        message,
        status=status,
        error_code=error_code,
        rc=rc,
        details=details,
        method=method,
        path=path,
    )
