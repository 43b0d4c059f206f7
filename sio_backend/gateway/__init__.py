"""The PowerFlex (ScaleIO) gateway REST client, one module per concern.

``client`` composes the rest: ``transport`` (the HTTP connection pool),
``auth`` and ``session`` (logins and the shared grant), ``api`` (one
authenticated call, reads retried), ``wire`` and ``errors`` (decoding
answers and error answers), ``models`` (typed values), and one module per
resource: ``system``, ``volumes``, ``vtrees``, ``sdcs``.
"""

from sio_backend.gateway.client import GatewayClient
from sio_backend.gateway.models import (
    KB_PER_GB,
    SNAPSHOT,
    THICK,
    THIN,
    Generation,
    MappedSdc,
    PoolCapacity,
    Sdc,
    StoragePool,
    Volume,
)
from sio_backend.gateway.volumes import MAYBE_APPLIED
from sio_backend.gateway.wire import MAX_NAME_LENGTH

__all__ = [
    "KB_PER_GB",
    "MAX_NAME_LENGTH",
    "MAYBE_APPLIED",
    "SNAPSHOT",
    "THICK",
    "THIN",
    "GatewayClient",
    "Generation",
    "MappedSdc",
    "PoolCapacity",
    "Sdc",
    "StoragePool",
    "Volume",
]
