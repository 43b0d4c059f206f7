"""Reads are sent again after a lost answer or a busy gateway; changes never are."""

from __future__ import annotations

import logging

import pytest
import requests

from sio_backend import exceptions
from sio_backend.gateway import api

SDCS_PATH = "/api/types/Sdc/instances"
SDC = {"id": "a2b7cc6300000000", "sdcGuid": "G1", "mdmConnectionState": "Connected"}
DROPPED = {"exc": requests.exceptions.ConnectionError("connection reset by peer")}
BUSY = {"status_code": 503, "text": "<html><body>Service Unavailable</body></html>"}


def sent(gateway, method: str, path: str) -> int:
    return gateway.calls().count(f"{method} {path}")


@pytest.mark.parametrize("failure", [DROPPED, BUSY], ids=["dropped", "busy"])
def test_a_read_that_fails_once_is_sent_again(gateway, client, sleeps, caplog, failure):
    gateway.get(gateway.url(SDCS_PATH), [failure, {"json": [SDC]}])

    assert [sdc.id for sdc in client.list_sdcs()] == [SDC["id"]]

    assert sent(gateway, "GET", SDCS_PATH) == 2
    assert sleeps == [api.READ_RETRY_DELAY_S]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"GET {SDCS_PATH}" in warnings[0]
    assert "attempt 1 of 3" in warnings[0]
    for secret in (gateway.PASSWORD, gateway.TOKEN):
        assert secret not in caplog.text


def test_a_read_that_keeps_dropping_fails_after_every_attempt(gateway, client, sleeps, caplog):
    gateway.get(gateway.url(SDCS_PATH), **DROPPED)

    with pytest.raises(exceptions.GatewayUnavailable) as info:
        client.list_sdcs()

    assert sent(gateway, "GET", SDCS_PATH) == api.READ_ATTEMPTS == 3
    assert sleeps == [0.5, 1.0]
    message = str(info.value)
    assert f"GET {SDCS_PATH}" in message
    assert "gave up after 3 attempts in 1.5 s" in message
    assert "rest_server_ip and rest_server_port" in message
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_a_gateway_that_stays_busy_names_what_to_check(gateway, client):
    gateway.get(gateway.url(SDCS_PATH), **BUSY)

    with pytest.raises(exceptions.GatewayUnavailable) as info:
        client.list_sdcs()

    assert sent(gateway, "GET", SDCS_PATH) == 3
    assert info.value.status == 503
    assert "Service Unavailable" in str(info.value)
    assert "any proxy in front of it are up and not overloaded" in str(info.value)


def test_retries_stop_within_rest_request_timeout(gateway, client, clock, sleeps):
    """A read that waited out its timeout is not sent again: one timeout per call."""

    def hang(request, context):
        clock.advance(gateway.TIMEOUT)
        raise requests.exceptions.ReadTimeout("read timed out")

    gateway.get(gateway.url(SDCS_PATH), text=hang)

    with pytest.raises(exceptions.GatewayUnavailable) as info:
        client.list_sdcs()

    assert sent(gateway, "GET", SDCS_PATH) == 1
    assert sleeps == []
    assert "gave up" not in str(info.value)
    assert "rest_request_timeout" in str(info.value)


def test_a_refused_token_and_a_drop_are_handled_in_one_read(gateway, client):
    """The 401 re-login is each attempt's own; the retry reuses it."""
    gateway.get(gateway.url("/api/login"), [{"text": '"first"'}, {"text": '"second"'}])
    gateway.get(gateway.url(SDCS_PATH), [{"status_code": 401, "text": ""}, DROPPED, {"json": []}])

    assert client.list_sdcs() == []

    assert gateway.logins() == 2
    tokens = [gateway.token_of(r) for r in gateway.request_history if r.path == SDCS_PATH]
    assert tokens == ["first", "second", "second"]


@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 500, "json": {"message": "Internal error", "httpStatusCode": 500}},
        {"status_code": 404, "json": {"message": "Not found", "httpStatusCode": 404}},
        {"exc": requests.exceptions.SSLError("certificate verify failed: unable to get issuer")},
    ],
    ids=["gateway error", "not found", "untrusted certificate"],
)
def test_answers_that_would_not_change_are_not_asked_again(gateway, client, answer):
    gateway.get(gateway.url(SDCS_PATH), **answer)

    with pytest.raises(exceptions.GatewayError):
        client.list_sdcs()

    assert sent(gateway, "GET", SDCS_PATH) == 1


def test_read_only_query_actions_are_sent_again(gateway, client):
    query = "/api/types/Volume/instances/action/queryIdByKey"
    gateway.post(gateway.url(query), [DROPPED, {"text": '"v1"'}])

    assert client.volume_id_by_name("vol1") == "v1"
    assert sent(gateway, "POST", query) == 2


CHANGES = {
    # verb: (the change, the mappings that show it happened)
    "addMappedSdc": (lambda c, g: c.map_volume(g.VOLUME_ID, g.SDC_ID), True),
    "removeMappedSdc": (lambda c, g: c.unmap_volume(g.VOLUME_ID, g.SDC_ID), False),
}


@pytest.mark.parametrize("verb", sorted(CHANGES))
def test_a_dropped_change_is_confirmed_not_replayed(gateway, client, sleeps, verb):
    """The gateway may have applied it: its state decides, and the POST goes once."""
    change, mapped = CHANGES[verb]
    action = gateway.action(gateway.VOLUME_ID, verb)
    gateway.post(action, **DROPPED)
    state = gateway.volume(mapped=[gateway.mapping()] if mapped else [])
    gateway.get(gateway.volume_url(), [DROPPED, {"json": state}])

    change(client, gateway)

    assert [r.url for r in gateway.request_history].count(action) == 1
    # Only the confirming read was sent again.
    assert sleeps == [api.READ_RETRY_DELAY_S]


def test_a_dropped_change_that_did_not_happen_fails_without_a_replay(gateway, client):
    action = gateway.action(gateway.VOLUME_ID, "addMappedSdc")
    gateway.post(action, **DROPPED)
    gateway.get(gateway.volume_url(), json=gateway.volume(mapped=[]))

    with pytest.raises(exceptions.GatewayUnavailable) as info:
        client.map_volume(gateway.VOLUME_ID, gateway.SDC_ID)

    assert [r.url for r in gateway.request_history].count(action) == 1
    assert "addMappedSdc" in str(info.value)
    assert "gave up" not in str(info.value)


def test_a_dropped_create_is_looked_up_not_replayed(gateway, client):
    create = gateway.url("/api/types/Volume/instances")
    gateway.post(create, **DROPPED)
    gateway.post(gateway.url("/api/types/Volume/instances/action/queryIdByKey"), text="null")

    with pytest.raises(exceptions.GatewayUnavailable):
        client.create_volume("vol1", gateway.POOL_ID, 8, thin=True)

    assert sent(gateway, "POST", "/api/types/Volume/instances") == 1
