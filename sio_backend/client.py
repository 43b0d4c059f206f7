"""Old import path of the gateway client, kept for modules not yet moved.

``sio_backend.preflight``, ``sio_backend.cmd.config``, ``sio_backend.cmd.audit``
and ``sio_backend.simulator.host`` still import from here; new code imports
:mod:`sio_backend.gateway`.  Remove this module once they have moved.
"""

from sio_backend.gateway import (  # noqa: F401 - re-exported
    KB_PER_GB,
    MAX_NAME_LENGTH,
    SNAPSHOT,
    THICK,
    THIN,
    GatewayClient,
    MappedSdc,
    PoolCapacity,
    Sdc,
    StoragePool,
    Volume,
)
