"""SDC listings as 4.x and 5.x gateways send them: NVMe hosts and null fields among the SDCs.

The entries are cinder's recorded answers (openstack/cinder ab09bc39,
``tests/unit/volume/drivers/dell_emc/powerflex/mockup/query_hosts_response.json``
and ``query_sdc_instances_response.json``, an SDC of software R5_5.0.0),
cut to the fields that matter plus enough of the rest to show unknown
fields are ignored.
"""

from __future__ import annotations

import pytest

from sio_backend import exceptions
from sio_backend.gateway import Sdc

SDCS_PATH = "/api/types/Sdc/instances"
SDC_GUID = "028888FA-502A-4FAC-A888-1FA3B256358C"

NVME_HOST = {
    "name": "host_6188",
    "hostOsFullType": "Generic",
    "sdcIps": None,
    "osType": None,
    "sdcApproved": None,
    "mdmIpAddressesCurrent": None,
    "sdcIp": None,
    "perfProfile": None,
    "mdmConnectionState": None,
    "softwareVersionInfo": None,
    "versionInfo": None,
    "sdcType": None,
    "nqn": "nqn.2014-08.org.nvmexpress:uuid:c470396a-2a3b-48ad-9c22-d3811fe1036d",
    "maxNumPaths": 4,
    "maxNumSysPorts": 10,
    "sdcGuid": None,
    "kernelVersion": None,
    "hostType": "NVMeHost",
    "sdrId": None,
    "systemId": "1250de83018c2d0f",
    "id": "13bf22b500010004",
    "links": [{"rel": "self", "href": "/api/instances/Host::13bf22b500010004"}],
}

SDC_5_0 = {
    "hostOsFullType": None,
    "systemId": "2c4a220db6e0520f",
    "name": None,
    "mdmConnectionState": "Connected",
    "softwareVersionInfo": "R5_5.0.0",
    "peerMdmId": None,
    "sdtId": None,
    "sdcApproved": True,
    "sdcIp": "192.168.10.12",
    "sdcIps": ["192.168.10.12"],
    "osType": "Linux",
    "perfProfile": "HighPerformance",
    "nqn": None,
    "maxNumPaths": None,
    "maxNumSysPorts": None,
    "sdcType": "AppSdc",
    "sdcGuid": SDC_GUID,
    "kernelBuildNumber": None,
    "sdcApprovedIps": None,
    "hostType": "SdcHost",
    "id": "01f7117d0000000b",
    "links": [{"rel": "self", "href": "/api/instances/Sdc::01f7117d0000000b"}],
}


def test_a_listing_with_an_nvme_host_is_read(gateway, client):
    gateway.get(gateway.url(SDCS_PATH), json=[NVME_HOST, SDC_5_0])

    nvme, sdc = client.list_sdcs()

    assert nvme == Sdc(
        id="13bf22b500010004",
        guid=None,
        ip=None,
        name="host_6188",
        connected=False,
        host_type="NVMeHost",
    )
    assert not nvme.is_sdc
    assert sdc == Sdc(
        id="01f7117d0000000b",
        guid=SDC_GUID,
        ip="192.168.10.12",
        name=None,
        connected=True,
        host_type="SdcHost",
    )
    assert sdc.is_sdc


def test_this_hosts_sdc_is_found_among_nvme_hosts(gateway, client):
    gateway.get(gateway.url(SDCS_PATH), json=[NVME_HOST, SDC_5_0, NVME_HOST])

    assert client.sdc_by_guid(SDC_GUID.lower()).id == "01f7117d0000000b"


def test_an_nvme_host_is_never_taken_for_a_missing_sdc(gateway, client):
    gateway.get(gateway.url(SDCS_PATH), json=[NVME_HOST])

    with pytest.raises(exceptions.NotFound, match="no SDC with GUID"):
        client.sdc_by_guid(SDC_GUID)


def test_an_sdc_without_its_guid_is_still_refused(gateway, client):
    gateway.get(gateway.url(SDCS_PATH), json=[{**SDC_5_0, "sdcGuid": None}])

    with pytest.raises(exceptions.InvalidResponse, match="sdcGuid"):
        client.list_sdcs()


def test_3x_entries_without_a_host_type_are_sdcs(gateway, client):
    entry = {k: v for k, v in SDC_5_0.items() if k not in ("hostType", "nqn")}
    gateway.get(gateway.url(SDCS_PATH), json=[entry])

    (sdc,) = client.list_sdcs()

    assert sdc.is_sdc
    assert sdc.guid == SDC_GUID
