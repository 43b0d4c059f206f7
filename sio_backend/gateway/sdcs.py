"""SDCs: the hosts' kernel clients, found by id, GUID or IP address.

SDCs are found by GUID by listing them on every call, without a cache,
because their connection state changes and the lookup is rare.
"""

from __future__ import annotations

from sio_backend.exceptions import NotFound
from sio_backend.gateway.api import Api
from sio_backend.gateway.models import Sdc
from sio_backend.gateway.wire import as_list, check_id


class Sdcs:
    """The SDC calls, over one shared :class:`Api`."""

    def __init__(self, api: Api) -> None:
        self._api = api

    def list_all(self) -> list[Sdc]:
        return self._api.request(
            "GET",
            "/api/types/Sdc/instances",
            parse=lambda data: [Sdc.from_api(item) for item in as_list(data, "the SDC list")],
        )

    def get(self, sdc_id: str) -> Sdc:
        path = f"/api/instances/Sdc::{check_id(sdc_id, 'SDC id')}"
        return self._api.request("GET", path, parse=Sdc.from_api)

    def by_guid(self, guid: str) -> Sdc:
        """The kernel reports GUIDs lower-case, the gateway upper-case."""
        wanted = guid.lower()
        for sdc in self.list_all():
            if sdc.guid is not None and sdc.guid.lower() == wanted:
                return sdc
        raise NotFound(
            f"no SDC with GUID {guid} is registered with the PowerFlex system; check that "
            "the SDC on this host is installed and connected to the MDM"
        )

    def by_ip(self, ip: str) -> Sdc:
        sdc_id = self._api.query_id("Sdc", {"ip": ip})
        if sdc_id is None:
            raise NotFound(f"no SDC with IP address {ip} is registered with the PowerFlex system")
        return self.get(sdc_id)
