"""What goes on the wire: request values out, JSON answers in.

Every reader here raises :class:`InvalidResponse` naming the field and what
was found, so a gateway that answers something unexpected is reported as
such instead of surfacing later as a ``KeyError`` or a ``None``.  Unknown
fields are ignored everywhere: each PowerFlex release adds some.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests

from sio_backend.exceptions import InvalidArgument, InvalidResponse, InvalidVolumeName

MAX_NAME_LENGTH = 31
SNIPPET_LENGTH = 200
ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")
_BARE_SCALAR = re.compile(r"[A-Za-z0-9_.:+/=-]+")
_VERSION = re.compile(r"(\d+)\.(\d+)")
# json.loads raises RecursionError, not ValueError, on deeply nested text.
NOT_JSON = (ValueError, RecursionError)


def check_volume_name(name: str) -> None:
    """Refuse names the gateway would reject, before anything is created."""
    problem = None
    if not name:
        problem = "it is empty"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"it has {len(name)} characters, the maximum is {MAX_NAME_LENGTH}"
    elif any(char.isspace() for char in name):
        problem = "it contains whitespace"
    elif not all(" " < char <= "~" for char in name):
        problem = "only printable ASCII characters are allowed"
    if problem:
        raise InvalidVolumeName(f"PowerFlex volume name {name!r} is invalid: {problem}")


def check_id(value: str, what: str) -> str:
    """Ids go into URL paths; anything else could address another object."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidArgument(f"{what} {value!r} is not a PowerFlex object id")
    return value


def snippet(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > SNIPPET_LENGTH:
        return flat[:SNIPPET_LENGTH] + "..."
    return flat


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return snippet(json.dumps(value, default=repr))


def as_object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidResponse(f"expected {what} as a JSON object, got {describe(data)}")
    return data


def as_list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise InvalidResponse(f"expected {what} as a JSON list, got {describe(data)}")
    return data


def text(data: Mapping[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidResponse(f"{what} has no valid {key!r}: got {describe(value)}")
    return value


def optional_text(data: Mapping[str, Any], key: str, what: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidResponse(f"{what} has an invalid {key!r}: got {describe(value)}")
    return value


def object_id(data: Mapping[str, Any], key: str, what: str) -> str:
    """An id the client will put in a URL path later: checked on the way in."""
    value = text(data, key, what)
    if not ID_PATTERN.fullmatch(value):
        raise InvalidResponse(f"{what} has an invalid {key!r}: got {describe(value)}")
    return value


def optional_id(data: Mapping[str, Any], key: str, what: str) -> str | None:
    return None if optional_text(data, key, what) is None else object_id(data, key, what)


def number(data: Mapping[str, Any], key: str, what: str, default: int | None = None) -> int:
    """A size, count or limit: never negative, sometimes sent as a string."""
    value = data.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidResponse(f"{what} has no valid {key!r}: got {describe(value)}")
    return value


def stringify(value: Any) -> Any:
    """The gateway wants numbers and booleans as strings ("8388608", "TRUE")."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping):
        return {key: stringify(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [stringify(item) for item in value]
    return value


def usable_token(value: Any) -> str | None:
    """A token that can go into a header as it is (no space, quote or newline)."""
    if isinstance(value, str) and _BARE_SCALAR.fullmatch(value):
        return value
    return None


def token_from(body: str) -> str | None:
    """Real gateways send the legacy token as a JSON string; test fixtures send it bare."""
    token = body.strip()
    if token.startswith('"'):
        try:
            token = json.loads(token)
        except NOT_JSON:
            token = token.strip('"')
    return usable_token(token)


def parse_version(raw: str | None) -> tuple[int, int]:
    """``"3.5"``, ``"4.5.2"`` or ``"5.0"`` as (major, minor), compared as numbers."""
    match = _VERSION.match(raw or "")
    if match is None:
        raise InvalidResponse(
            f"the gateway reports API version {raw!r}, not major.minor",
            method="GET",
            path="/api/version",
        )
    return int(match[1]), int(match[2])


def decode_json(response: requests.Response) -> Any:
    """The answer's JSON; None for an empty body (actions may answer nothing)."""
    body = response.text
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except NOT_JSON:
        raise InvalidResponse(f"the answer is not JSON: {snippet(body)}") from None


def decode_scalar(response: requests.Response) -> str | None:
    """Lookups answer with a bare JSON string id, or ``null``/nothing for no match."""
    body = response.text.strip()
    if not body or body == "null":
        return None
    value: Any = body
    if body.startswith('"'):
        try:
            value = json.loads(body)
        except NOT_JSON:
            value = None
    if value == "":
        return None
    if isinstance(value, str) and ID_PATTERN.fullmatch(value):
        return value
    raise InvalidResponse(f"expected an id or version string, got {snippet(body)}")
