"""Errors the simulated gateway answers with, in the real gateway's shape.

Every failure inside the simulator is a :class:`SimulatorError` that already
knows its HTTP status and body, so the HTTP layer only serialises it
(:meth:`SimulatorError.payload`).  Most bodies are the gateway's JSON error;
the 4.x/5.x PowerFlex Manager answers some in its own shapes: an HTML page for
a refused token (:func:`unauthorized`), and the PowerAPI error for its
``/rest/auth`` and ``/dtapi`` services (:class:`PowerApiError`).  The
MDM return codes (``errorCode``) come from the PowerFlex 3.x ``mos_rc`` table
(the index of each name in that table is its number); 4.x renumbered some of
them, which :class:`Rc` records in ``code_v4``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSON = "application/json;charset=UTF-8"


class SimulatorError(Exception):
    """An error answer: HTTP status, gateway errorCode, message and details."""

    def __init__(
        self,
        status: int,
        error_code: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"HTTP {status} errorCode {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON body a real gateway sends for this error."""
        body: dict[str, Any] = {
            "message": self.message,
            "httpStatusCode": self.status,
            "errorCode": self.error_code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    content_type = JSON

    def payload(self) -> bytes:
        """The bytes of the answer, in :attr:`content_type`."""
        return json.dumps(self.body()).encode()


class HtmlError(SimulatorError):
    """An error a 4.x/5.x ingress answers with a web page, not JSON."""

    content_type = "text/html"

    def payload(self) -> bytes:
        title = f"{self.status} {self.message}"
        return (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        ).encode()


class PowerApiError(SimulatorError):
    """An error of PowerFlex Manager's own services (``/rest/auth``, ``/dtapi``),
    in the ``error-response`` shape of Dell's 4.5.5/5.0 auth API files."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, 0, message)
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "http_status_code": self.status,
            "messages": [
                {
                    "code": self.code,
                    "severity": "ERROR",
                    "message": self.message,
                    "message_l10n": self.message,
                }
            ],
        }


@dataclass(frozen=True)
class Rc:
    """One MDM return code: its 3.x number, its 4.x number if it moved, its text."""

    name: str
    code: int
    message: str
    code_v4: int | None = None

    def error(
        self,
        *,
        v4: bool = False,
        message: str | None = None,
        status: int = 500,
        details: list[dict[str, Any]] | None = None,
    ) -> SimulatorError:
        code = self.code_v4 if v4 and self.code_v4 is not None else self.code
        return SimulatorError(status, code, message or self.message, details)


NOT_FOUND = Rc("NOT_FOUND", 3, "Not found")
VOL_NOT_FOUND = Rc("VOL_NOT_FOUND", 79, "Could not find the volume")
INI_NOT_FOUND = Rc("INI_NOT_FOUND", 80, "Could not find the SDC")
VOL_ALREADY_MAPPED_TO_THIS_INI = Rc(
    "VOL_ALREADY_MAPPED_TO_THIS_INI", 81, "The volume is already mapped to this SDC", 4037
)
VOL_NOT_MAPPED_TO_INI = Rc("VOL_NOT_MAPPED_TO_INI", 84, "The volume is not mapped to SDC", 4039)
VOL_NAME_IN_USE = Rc(
    "VOL_NAME_IN_USE", 99, "Volume name already in use. Please use a different name."
)
VOL_MAPPED = Rc("VOL_MAPPED", 104, "Volume is mapped")
VOL_DECREASE_NOT_SUPPORTED = Rc(
    "VOL_DECREASE_NOT_SUPPORTED", 133, "Volume capacity can only be increased"
)
FD_NOT_FOUND = Rc("FD_NOT_FOUND", 142, "Could not find Protection Domain")
STORAGE_POOL_NOT_FOUND = Rc("STORAGE_POOL_NOT_FOUND", 171, "Could not find Storage Pool")
TOO_MANY_SNAPS_IN_VTREE = Rc(
    "TOO_MANY_SNAPS_IN_VTREE", 182, "There are too many snapshots in the VTree"
)
VOL_NOT_FOUND_FOR_SNAP_GROUP = Rc(
    "VOL_NOT_FOUND_FOR_SNAP_GROUP",
    185,
    "No volumes were found under the given consistency group or the consistency group ID "
    "is not valid",
)
FD_AND_SP_MISMATCH = Rc(
    "FD_AND_SP_MISMATCH",
    197,
    "The specified Storage Pool is not in the specified Protection Domain",
)
VTREE_ID_MISMATCH = Rc(
    "VTREE_ID_MISMATCH",
    198,
    "To overwrite the content of a volume, the source and target volumes must be from the "
    "same V-Tree.",
)
VOL_SIZE_ILLEGAL = Rc(
    "VOL_SIZE_ILLEGAL",
    225,
    "The specified volume size is illegal. Volume size must be in 8 GB blocks",
)
LONG_NAME = Rc("LONG_NAME", 226, "The given name exceeds the allowed length of 31 characters.")
INVALID_NAME = Rc(
    "INVALID_NAME",
    227,
    "The given name contains invalid characters. Use alphanumeric and punctuation characters "
    "only. Spaces are not allowed.",
)
INVALID_VTREE_ID = Rc(
    "INVALID_VTREE_ID", 230, "Invalid VTree ID. Please try again with the correct ID."
)
TOO_MANY_SESSIONS = Rc(
    "TOO_MANY_SESSIONS",
    252,
    "The maximum number of sessions is already open. Please close some other sessions, and "
    "then try again.",
)
NOT_SUPPORTED = Rc("NOT_SUPPORTED", 288, "This command is not supported.")
NOT_ALLOWED_MORE_THAN_ONE_MAPPING = Rc(
    "NOT_ALLOWED_MORE_THAN_ONE_MAPPING",
    297,
    "This volume is already mapped and may not be mapped to additional SDCs.",
)
TOO_MUCH_THIN_CAPACITY = Rc(
    "TOO_MUCH_THIN_CAPACITY", 300, "Requested volume size exceeds the volume allocation limit"
)
VOLUME_AND_SNAPSHOT_MATCH = Rc(
    "VOLUME_AND_SNAPSHOT_MATCH",
    330,
    "You cannot overwrite a volume with itself. Select a different volume in the V-Tree and "
    "try again.",
)
# Past the end of the 3.0 table; numbers as cinder's migration code expects them.
MIGRATION_IN_PROGRESS = Rc("VTREE_MIGRATION_IN_PROGRESS", 717, "VTree migration is in progress")
ALREADY_IN_DESTINATION = Rc(
    "VTREE_ALREADY_IN_DEST_POOL", 718, "The VTree is already in the destination Storage Pool"
)


def invalid_request(reason: str) -> SimulatorError:
    """A request the gateway's validation layer rejects before the MDM sees it."""
    return SimulatorError(400, 0, f"Request message is not valid: {reason}")


def missing_parameters(*names: str) -> SimulatorError:
    return invalid_request(
        f"The following parameter(s) must be part of the request body: {', '.join(names)}."
    )


def unauthorized(*, html: bool = False) -> SimulatorError:
    """A refused login or token; from 4.0 on the body "may be in html"
    (goscaleio ``ParseJSONError``; LXD's PowerFlex driver does not parse it)."""
    if html:
        return HtmlError(401, 0, "Authorization Required")
    return SimulatorError(401, 0, "Unauthorized")


def with_details(rc: Rc, message: str | None = None) -> SimulatorError:
    """An error reported as "Error with details", the rc carried in ``details[0]``."""
    text = message or rc.message
    return SimulatorError(
        500, 0, "Error with details", [{"rc": rc.code, "error": rc.name, "errorMessage": text}]
    )
