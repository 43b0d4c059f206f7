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

_BY_ERROR_CODE: dict[int, type[GatewayError]] = {
    3: NotFound,
    78: NotFound,
    79: NotFound,
    142: NotFound,
    81: AlreadyMapped,
    4037: AlreadyMapped,
    84: NotMapped,
    4039: NotMapped,
    99: NameInUse,
    104: VolumeMapped,
    133: ShrinkNotAllowed,
    297: SingleMappingOnly,
    306: SingleMappingOnly,
    717: MigrationInProgress,
    718: AlreadyInPool,
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
    message = message or f"HTTP {response.status_code} without a message: {snippet(body_text)}"
    error_code = body.get("errorCode")
    rc = details[0].get("rc") if details else None
    return (
        message,
        error_code if isinstance(error_code, int) else None,
        rc if isinstance(rc, int) else None,
        details,
        True,
    )


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
