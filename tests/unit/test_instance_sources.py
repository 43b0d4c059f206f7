"""Where the audit learns which instances exist: nova's API (paged) and files."""

from __future__ import annotations

import pytest
import requests_mock
from oslo_config import cfg

from sio_backend import instance_sources

NOVA = "http://nova.example/v2.1"
SERVERS = NOVA + "/servers"
A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"
C = "33333333-3333-4333-8333-333333333333"


@pytest.fixture
def conf(tmp_path) -> cfg.ConfigOpts:
    """nova.conf whose [placement] section reaches nova without keystone (auth_type none)."""
    path = tmp_path / "nova.conf"
    path.write_text(f"[placement]\nauth_type = none\nendpoint = {NOVA}\n")
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[str(path)])
    return conf


def test_nova_api_lists_every_page_across_projects(conf):
    with requests_mock.Mocker() as nova:
        nova.get(
            SERVERS,
            [
                {"json": {"servers": [{"id": A}, {"id": B}]}},
                {"json": {"servers": [{"id": C}]}},
                {"json": {"servers": []}},
            ],
        )

        known = instance_sources.from_nova_api(conf, "placement")

        queries = [request.qs for request in nova.request_history]
    assert known.uuids == {A, B, C}
    assert known.local_sdc_id is None
    assert "[placement]" in known.source
    assert all(query["all_tenants"] == ["1"] for query in queries)
    assert [query.get("marker") for query in queries] == [None, [B], [C]]


def test_nova_api_failure_is_a_source_error_not_an_empty_list(conf):
    with requests_mock.Mocker() as nova:
        nova.get(SERVERS, status_code=403, json={"forbidden": {"message": "admin only"}})

        with pytest.raises(instance_sources.SourceError, match=r"\[placement\] credentials"):
            instance_sources.from_nova_api(conf, "placement")


def test_nova_api_repeating_a_page_is_refused(conf):
    with requests_mock.Mocker() as nova:
        nova.get(SERVERS, json={"servers": [{"id": A}]})

        with pytest.raises(instance_sources.SourceError, match="repeated a page"):
            instance_sources.from_nova_api(conf, "placement")


def test_section_without_auth_type_is_refused():
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])

    with pytest.raises(instance_sources.SourceError, match=r"\[nova\] has no auth_type"):
        instance_sources.from_nova_api(conf, "nova")


def test_list_reads_options_and_files_canonically(tmp_path):
    listing = tmp_path / "ids"
    listing.write_text(f"# comment\n\n  {B.upper()}  \n")

    known = instance_sources.from_list([A.replace("-", "")], [listing])

    assert known.uuids == {A, B}


def test_unreadable_file_is_a_source_error(tmp_path):
    with pytest.raises(instance_sources.SourceError, match="cannot read"):
        instance_sources.from_list([], [tmp_path / "absent"])
