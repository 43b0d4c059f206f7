"""Error answers and malformed success answers become typed, readable exceptions."""

from __future__ import annotations

import pytest

from sio_backend import exceptions
from sio_backend.gateway import MAX_NAME_LENGTH, MappedSdc

SDC_PATH = "/api/instances/Sdc::s1"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "Not found", "errorCode": 3}, exceptions.NotFound),
        ({"message": "Could not find the volume", "errorCode": 79}, exceptions.NotFound),
        ({"message": "(older release)", "errorCode": 78}, exceptions.NotFound),
        ({"message": "Could not find Protection Domain", "errorCode": 142}, exceptions.NotFound),
        ({"message": "x", "errorCode": 81}, exceptions.AlreadyMapped),
        ({"message": "x", "errorCode": 4037}, exceptions.AlreadyMapped),
        ({"message": "The volume is not mapped to SDC", "errorCode": 84}, exceptions.NotMapped),
        ({"message": "x", "errorCode": 4039}, exceptions.NotMapped),
        ({"message": "Volume name already in use.", "errorCode": 99}, exceptions.NameInUse),
        ({"message": "Volume is mapped", "errorCode": 104}, exceptions.VolumeMapped),
        ({"message": "x", "errorCode": 133}, exceptions.ShrinkNotAllowed),
        ({"message": "x", "errorCode": 297}, exceptions.SingleMappingOnly),
        ({"message": "x", "errorCode": 306}, exceptions.SingleMappingOnly),
        ({"message": "x", "errorCode": 717}, exceptions.MigrationInProgress),
        ({"message": "x", "errorCode": 718}, exceptions.AlreadyInPool),
        ({"message": "x", "errorCode": 6, "details": [{"rc": 182}]}, exceptions.SnapshotLimit),
        ({"message": "Only a single SDC may be mapped"}, exceptions.SingleMappingOnly),
        ({"message": "Volume name already in use"}, exceptions.NameInUse),
        ({"message": "Something odd", "errorCode": 12345}, exceptions.GatewayError),
    ],
)
def test_error_codes_and_messages_map_to_classes(gateway, client, body, expected):
    gateway.get(gateway.url(SDC_PATH), status_code=500, json={"httpStatusCode": 500, **body})

    with pytest.raises(exceptions.GatewayError) as info:
        client.get_sdc("s1")

    assert type(info.value) is expected
    assert info.value.status == 500
    assert info.value.error_code == body.get("errorCode")
    assert info.value.method == "GET"
    assert info.value.path == SDC_PATH
    assert body["message"] in str(info.value)


def test_error_keeps_details_and_their_rc(gateway, client):
    details = [{"rc": 182, "error": "TOO_MANY_SNAPS_IN_VTREE", "errorMessage": "Too many"}]
    gateway.get(
        gateway.url(SDC_PATH),
        **gateway.error("Error with details", 6, details=details),
    )

    with pytest.raises(exceptions.SnapshotLimit) as info:
        client.get_sdc("s1")

    assert info.value.rc == 182
    assert info.value.details == details
    # The generic "Error with details" gives way to the detail's own message.
    assert info.value.message == "Too many"
    assert "rc 182" in str(info.value)


def test_validation_error_is_bad_request(gateway, client):
    message = "Request message is not valid: volumeSizeInKb must be part of the request body"
    gateway.get(gateway.url(SDC_PATH), **gateway.error(message, 0, 400))

    with pytest.raises(exceptions.BadRequest, match="volumeSizeInKb"):
        client.get_sdc("s1")


def test_json_error_without_message_still_says_what_happened(gateway, client):
    gateway.get(gateway.url(SDC_PATH), status_code=500, json={"errorCode": 79})

    with pytest.raises(exceptions.NotFound) as info:
        client.get_sdc("s1")

    assert "HTTP 500 without a message" in str(info.value)


HTML_404 = "<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
TRUNCATED = '{"message":"Could not find the volume","httpStat'


@pytest.mark.parametrize(
    ("answer", "expected", "shown"),
    [
        (
            (404, HTML_404, {"Content-Type": "text/html"}),
            exceptions.GatewayError,
            "text/html answer: 404 Not Found nginx",
        ),
        ((500, "", {}), exceptions.GatewayError, "empty answer"),
        (
            (500, TRUNCATED, {"Content-Type": "application/json"}),
            exceptions.GatewayError,
            f"application/json answer: {TRUNCATED}",
        ),
        ((503, "<html>Service Unavailable</html>", {}), exceptions.GatewayUnavailable, "Service"),
        ((502, "", {}), exceptions.GatewayUnavailable, "empty answer"),
        ((400, "bad", {}), exceptions.BadRequest, "untyped answer: bad"),
    ],
)
def test_unreadable_error_bodies_are_classified_by_status_only(
    gateway, client, answer, expected, shown
):
    status, body, headers = answer
    gateway.get(gateway.url(SDC_PATH), status_code=status, text=body, headers=headers)

    with pytest.raises(exceptions.GatewayError) as info:
        client.get_sdc("s1")

    # A proxy's "Not Found" page must never be mistaken for a missing object.
    assert type(info.value) is expected
    assert info.value.status == status
    assert shown in str(info.value)
    assert f"HTTP {status}" in str(info.value)


def test_long_error_bodies_are_cut_short(gateway, client):
    gateway.get(gateway.url(SDC_PATH), status_code=500, text="x" * 5000)

    with pytest.raises(exceptions.GatewayError) as info:
        client.get_sdc("s1")

    assert len(str(info.value)) < 400
    assert str(info.value).count("x") >= 200


@pytest.mark.parametrize(
    ("path", "call", "body"),
    [
        (SDC_PATH, lambda c: c.get_sdc("s1"), []),
        (SDC_PATH, lambda c: c.get_sdc("s1"), {"sdcGuid": "G"}),
        (SDC_PATH, lambda c: c.get_sdc("s1"), {"id": "s1"}),
        (SDC_PATH, lambda c: c.get_sdc("s1"), "<html>"),
        ("/api/types/Sdc/instances", lambda c: c.list_sdcs(), {"id": "s1"}),
        ("/api/types/Sdc/instances", lambda c: c.list_sdcs(), [["nested"]]),
        ("/api/types/System/instances", lambda c: c.system_id(), []),
        ("/api/types/System/instances", lambda c: c.system_id(), [{"name": "no id"}]),
        ("/api/types/System/instances", lambda c: c.system_id(), {"id": "not a list"}),
        ("/api/instances/VTree::vt1", lambda c: c.get_vtree("vt1"), ["list"]),
        ("/api/instances/StoragePool::p1", lambda c: c.get_storage_pool("p1"), {"id": "p1"}),
    ],
)
def test_wrong_shape_success_answers_raise_invalid_response(gateway, client, path, call, body):
    if isinstance(body, str):
        gateway.get(gateway.url(path), text=body)
    else:
        gateway.get(gateway.url(path), json=body)

    with pytest.raises(exceptions.InvalidResponse) as info:
        call(client)

    assert info.value.status == 200
    assert info.value.path == path
    assert info.value.method == "GET"


@pytest.mark.parametrize(
    "change",
    [
        {"sizeInKb": "eight"},
        {"sizeInKb": True},
        {"sizeInKb": None},
        {"storagePoolId": None},
        {"volumeType": 7},
        {"name": ["list"]},
        {"mappedSdcInfo": {"sdcId": "not a list"}},
        {"mappedSdcInfo": [{"sdcIp": "no id"}]},
        {"mappedSdcInfo": ["not an object"]},
    ],
)
def test_malformed_volume_fields_raise_invalid_response(gateway, client, change):
    gateway.get(gateway.volume_url(), json={**gateway.volume(), **change})

    with pytest.raises(exceptions.InvalidResponse) as info:
        client.get_volume(gateway.VOLUME_ID)

    field = next(iter(change))
    assert field in str(info.value) or "mappedSdcInfo" in str(info.value)


@pytest.mark.parametrize("body", ['{"id": "x"}', "[1]", '"two words"', "12 34", '"'])
def test_lookup_answers_that_are_not_ids_raise_invalid_response(gateway, client, body):
    gateway.post(gateway.url("/api/types/Volume/instances/action/queryIdByKey"), text=body)

    with pytest.raises(exceptions.InvalidResponse) as info:
        client.volume_id_by_name("vol1")

    assert info.value.method == "POST"


@pytest.mark.parametrize("body", ['"garbage"', '"v3"', ""])
def test_unparseable_version_raises_invalid_response(gateway, client, body):
    gateway.get(gateway.url("/api/version"), text=body)

    with pytest.raises(exceptions.InvalidResponse, match=r"major\.minor"):
        client.api_version()


def test_invalid_object_ids_are_refused_before_any_request(gateway, client):
    for bad in ("", "a/b", "../System", "id with space", "x?y"):
        with pytest.raises(exceptions.InvalidArgument, match="not a PowerFlex object id"):
            client.get_volume(bad)
    assert gateway.request_history == []


def test_error_types_are_value_errors_where_the_caller_erred():
    assert issubclass(exceptions.InvalidArgument, ValueError)
    assert issubclass(exceptions.InvalidVolumeName, exceptions.InvalidArgument)
    assert MAX_NAME_LENGTH == 31


def test_numbers_sent_as_strings_and_missing_limits_are_tolerated(gateway, client):
    mapping = {"sdcId": gateway.SDC_ID}  # no sdcIp, no limits
    body = {**gateway.volume(mapped=[mapping]), "sizeInKb": "8388608"}
    gateway.get(gateway.volume_url(), json=body)

    volume = client.get_volume(gateway.VOLUME_ID)

    assert volume.size_kb == 8388608
    assert volume.mapped_sdcs == (MappedSdc(gateway.SDC_ID, None, 0, 0),)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("4037", exceptions.AlreadyMapped),
        ("81", exceptions.AlreadyMapped),
        ("4039", exceptions.NotMapped),
        (" 84 ", exceptions.NotMapped),
        ("79", exceptions.NotFound),
        ("78", exceptions.NotFound),
        ("not-a-number", exceptions.GatewayError),
    ],
)
def test_error_codes_sent_as_strings_are_recognised(gateway, client, code, expected):
    body = {"message": "x", "httpStatusCode": 500, "errorCode": code}
    gateway.get(gateway.url(SDC_PATH), status_code=500, json=body)

    with pytest.raises(exceptions.GatewayError) as info:
        client.get_sdc("s1")

    assert type(info.value) is expected
    assert info.value.error_code == (int(code) if code.strip().isdigit() else None)


def test_a_detail_rc_sent_as_a_string_is_recognised(gateway, client):
    details = [{"rc": "182", "errorMessage": "Too many snapshots"}]
    gateway.get(gateway.url(SDC_PATH), **gateway.error("Error with details", "6", details=details))

    with pytest.raises(exceptions.SnapshotLimit) as info:
        client.get_sdc("s1")

    assert (info.value.error_code, info.value.rc) == (6, 182)
