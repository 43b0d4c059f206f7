"""Turning flavor refusals into the nova exception that ends a build cleanly.

nova's compute manager reschedules a failed build on another host unless
the exception is one it knows rescheduling cannot fix.  A flavor this
backend refuses fails the same way on every host, and after the retries the
user sees only "No valid host was found"; raised as one of the exceptions
nova aborts on, the build stops at once and the instance fault carries our
message.

nova 34, ``nova/compute/manager.py``: in
``ComputeManager._build_and_run_instance`` the clause at 2781-2801,
``except (exception.FlavorDiskTooSmall, ..., exception.InvalidInput, ...)``
(``InvalidInput`` at 2790), raises ``BuildAbortException(reason=
e.format_message())``; any other exception becomes ``RescheduledException``
(2813-2823).  ``InvalidInput`` is the honest member of that tuple for "the
flavor asks for something unsupported" (``FlavorDiskTooSmall`` and
``ImageUnacceptable`` would mislabel it).  Resize, rebuild and evacuation
never reschedule, so there the same exception simply becomes the fault.
nova is imported only when a conversion happens, so the rest of sio_backend
stays importable without nova.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sio_backend import exceptions

if TYPE_CHECKING:
    from nova import exception as nova_exception


def to_nova_exception(err: exceptions.FlavorNotSupported) -> nova_exception.InvalidInput:
    """The nova exception to raise (``raise to_nova_exception(err) from err``)."""
    from nova import exception as nova_exception  # noqa: PLC0415 - nova is optional

    return nova_exception.InvalidInput(message=str(err))
