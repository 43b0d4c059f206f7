"""Storage asks the pool for its size unit: 8 GiB, or 1 GiB on a 5.x Erasure Coding pool."""

from __future__ import annotations

import pytest

from sio_backend.flavor import DiskPlacement
from sio_backend.storage import Storage

POOL_QUERY = "/api/types/StoragePool/instances/action/queryIdByKey"
PD_BY_IDS = "/api/types/ProtectionDomain/instances/action/queryBySelectedIds"


@pytest.mark.parametrize(
    ("version", "gen_type", "unit"),
    [("3.5", None, 8), ("4.5", None, 8), ("5.0", "Mirroring", 8), ("5.0", "EC", 1)],
)
def test_size_granularity_follows_the_pools_generation(gateway, client, version, gen_type, unit):
    gateway.get(gateway.url("/api/version"), text=f'"{version}"')
    gateway.post(gateway.url(POOL_QUERY), text=f'"{gateway.POOL_ID}"')
    gateway.get(
        gateway.url(f"/api/instances/StoragePool::{gateway.POOL_ID}"),
        json={
            "id": gateway.POOL_ID,
            "protectionDomainId": gateway.PD_ID,
            "zeroPaddingEnabled": True,
        },
    )
    domain = {"id": gateway.PD_ID, **({"genType": gen_type} if gen_type else {})}
    gateway.post(gateway.url(PD_BY_IDS), json=[domain])
    storage = Storage(client, sdc=None, installation_id="ab12")
    placement = DiskPlacement("pd1", "sp1", thin=True)

    assert storage.size_granularity_gb(placement) == unit
    assert storage.size_granularity_gb(placement) == unit
    # Asked once: a pool's generation never changes.
    assert gateway.calls().count(f"GET /api/instances/StoragePool::{gateway.POOL_ID}") == 1
