"""Reading request bodies the way the gateway does.

Clients send numbers and booleans as strings ("8388608", "TRUE", "True",
"true"), some as JSON scalars; the gateway takes both and rejects anything
else with HTTP 400 and errorCode 0, which is what this module raises.
"""

from __future__ import annotations

from typing import Any

from sio_backend.simulator import errors


class Body:
    """A JSON request object with typed, validating accessors."""

    def __init__(self, data: Any) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise errors.invalid_request("the request body must be a JSON object")
        self._data: dict[str, Any] = data

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str) -> Any:
        """The value as sent, for callers that check its type themselves."""
        return self._data.get(key)

    def require(self, *keys: str) -> None:
        missing = [k for k in keys if k not in self._data]
        if missing:
            raise errors.missing_parameters(*missing)

    def text(self, key: str, *, required: bool = False) -> str | None:
        if required:
            self.require(key)
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _bad_value(key, value)
        return str(value)

    def integer(self, key: str, *, required: bool = False) -> int | None:
        if required:
            self.require(key)
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise _bad_value(key, value)

    def boolean(self, key: str, *, default: bool = False) -> bool:
        value = self._data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _bad_value(key, value)

    def strings(self, key: str, *, required: bool = False) -> list[str]:
        if required:
            self.require(key)
        value = self._data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad_value(key, value)
        return value

    def objects(self, key: str, *, required: bool = False) -> list[Body]:
        if required:
            self.require(key)
        value = self._data.get(key, [])
        if not isinstance(value, list):
            raise _bad_value(key, value)
        return [Body(item) for item in value]


def _bad_value(key: str, value: Any) -> errors.SimulatorError:
    return errors.invalid_request(f"The value {value!r} of parameter {key} is not valid.")
