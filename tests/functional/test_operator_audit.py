"""``sio-backend volumes`` and ``audit`` against the HTTPS simulator.

The system holds volumes of a live instance, a deleted one, leftovers,
another installation's volume and a hand-made one; the audit must list
exactly the problems, and ``--fix`` must change exactly what it listed.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest

from sio_backend import naming
from sio_backend.cmd.main import main
from sio_backend.demo.nova_conf import write_nova_conf

IID = "func"
LIVE = "0f2c7b7e-5d1a-4c39-9d1b-9a3f3b1f0c11"
DELETED = "7c9e4a52-2b6f-4d8e-8f3e-1d2c3b4a5f60"
IMAGE = "3e1f5a9c-8b7d-4e6f-a0b1-c2d3e4f5a6b7"
LIBVIRT_TEST_DOMAIN = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # test:///default's "test"


def disk(instance: str, disk_name: str, iid: str = IID) -> str:
    return naming.disk_volume_name(iid, instance, disk_name)


@pytest.fixture
def system(simulator, gateway_client):
    """Create volumes by name: ``make(name, *hosts)`` maps to the named SDCs."""
    pool_id = gateway_client.storage_pool_id("pd1", "sp1")
    simulator.add_sdc("host3")

    def make(name: str, *hosts: str) -> str:
        volume = gateway_client.create_volume(name, pool_id, 8, thin=True)
        for host in hosts:
            gateway_client.map_volume(volume.id, simulator.sdcs[host].id)
        return volume.id

    return make


@pytest.fixture
def populated(system, simulator, gateway_client):
    """The scenario of the module docstring; returns {name: volume id}."""
    ids = {
        name: system(name, *hosts)
        for name, hosts in [
            (disk(LIVE, "disk"), ("host1",)),
            (disk(LIVE, "disk.local"), ("host1", "host2")),
            (disk(LIVE, "disk.config"), ("host3",)),
            (disk(LIVE, "disk.rescue"), ()),
            (disk(DELETED, "disk"), ("host1",)),
            (disk(DELETED, "disk", iid="othr"), ("host1",)),
            ("data1", ()),
            (naming.image_cache_volume_name(IID, IMAGE, 0), ()),
        ]
    }
    resize = naming.derived_volume_name(IID, LIVE, "disk", naming.VolumeKind.RESIZE_SNAPSHOT)
    ids[resize] = gateway_client.snapshot_volume(ids[disk(LIVE, "disk")], resize)
    simulator.faults.disconnect_sdc("host3")
    return ids


@pytest.fixture
def run(tmp_path, simulator, capsys, monkeypatch):
    """Run a command in-process with nova.conf; return (status, stdout, stderr)."""
    conf = write_nova_conf(tmp_path / "nova.conf", simulator, guid=simulator.sdcs["host1"].guid)

    def run_command(command: str, *arguments: str, answer: str | None = None):
        if answer is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(answer))
        status = main([command, "--config-file", str(conf), *arguments])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run_command


def audit_json(run, *arguments: str, answer: str | None = None):
    status, out, err = run("audit", "-f", "json", *arguments, answer=answer)
    document = json.loads(out)
    found = {(f["name"], f["problem"], f["action"]) for f in document["findings"]}
    return status, found, document, err


def volume_names(gateway_client) -> set[str]:
    return {volume.name for volume in gateway_client.list_volumes()}


def expected_findings(*, deleted: bool):
    resize = naming.derived_volume_name(IID, LIVE, "disk", naming.VolumeKind.RESIZE_SNAPSHOT)
    found = {
        (disk(LIVE, "disk.local"), "mapped to several hosts", "report only"),
        (disk(LIVE, "disk.config"), "mapped to a disconnected SDC", "unmap"),
        # An existing instance may still need these: nova alone knows.
        (disk(LIVE, "disk.rescue"), "leftover", "report only"),
        (resize, "leftover", "report only"),
        (naming.image_cache_volume_name(IID, IMAGE, 0), "unused image cache", "report only"),
    }
    if deleted:
        found.add((disk(DELETED, "disk"), "instance deleted", "remove volume"))
    return found


def test_volumes_lists_only_this_installation_decoded(run, populated, simulator):
    status, out, _ = run("volumes", "-f", "json")

    assert status == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {name for name in populated if naming.is_ours(name, IID)}
    local = rows[disk(LIVE, "disk.local")]
    assert (local["instance"], local["disk"], local["kind"]) == (LIVE, "disk.local", "disk")
    assert (local["size_gb"], local["pool"], local["provisioning"]) == (8, "sp1", "thin")
    assert local["hosts"] == ["host1", "host2"]
    assert rows[disk(LIVE, "disk.config")]["hosts"] == ["host3 (disconnected)"]
    assert rows[disk(LIVE, "disk.rescue")]["kind"] == "rescue disk"
    cache = rows[naming.image_cache_volume_name(IID, IMAGE, 0)]
    assert (cache["kind"], cache["image"], cache["instance"]) == ("image cache", IMAGE, None)


def test_volumes_table_has_a_header_and_one_line_per_volume(run, populated):
    status, out, _ = run("volumes")

    lines = out.splitlines()
    assert status == 0
    assert lines[0].split()[:2] == ["Name", "ID"]
    assert len(lines) == 2 + sum(naming.is_ours(name, IID) for name in populated)
    assert "data1" not in out


def test_audit_without_instances_never_calls_one_deleted(run, populated):
    status, found, document, err = audit_json(run)

    assert status == 1
    assert found == expected_findings(deleted=False)
    assert document["instance_source"] is None
    assert "No source of instances" in err


def test_audit_with_an_instance_list_finds_the_deleted_instance(run, populated, tmp_path):
    listing = tmp_path / "instances.txt"
    listing.write_text(f"# from openstack server list\n\n{LIVE}\n")

    by_option = audit_json(run, "--instance", LIVE)
    by_file = audit_json(run, "--instances-file", str(listing))

    assert by_option[0] == by_file[0] == 1
    assert by_option[1] == by_file[1] == expected_findings(deleted=True)


def test_audit_fix_removes_exactly_what_it_listed(run, populated, gateway_client, simulator):
    before = volume_names(gateway_client)
    status, found, document, _ = audit_json(run, "--instance", LIVE, "--fix", "--yes")

    assert found == expected_findings(deleted=True)
    removed = {name for name, _, action in found if action == "remove volume"}
    assert volume_names(gateway_client) == before - removed
    assert {"data1", disk(DELETED, "disk", iid="othr")} <= volume_names(gateway_client)
    config = gateway_client.find_volume(disk(LIVE, "disk.config"))
    assert config.mapped_sdcs == ()
    local = gateway_client.find_volume(disk(LIVE, "disk.local"))
    assert local.mapped_sdc_ids == {simulator.sdcs["host1"].id, simulator.sdcs["host2"].id}
    assert sorted(document["fix"]) == sorted(
        [f"removed volume {name}" for name in removed]
        + [f"unmapped {disk(LIVE, 'disk.config')} from host3 (disconnected)"]
    )
    assert status == 1  # the double mapping, rescue, resize and unused image need a decision

    status, found, _, _ = audit_json(run, "--instance", LIVE)
    assert found == {f for f in expected_findings(deleted=False) if f[2] == "report only"}


def test_audit_fix_asks_and_no_changes_nothing(run, populated, gateway_client):
    before = {v.name: v for v in gateway_client.list_volumes()}

    status, out, err = run("audit", "--instance", LIVE, "--fix", answer="n\n")

    assert status == 1
    assert "Remove 1 volumes and 1 mappings? [y/N]" in err
    assert "Nothing changed." in err
    assert {v.name: v for v in gateway_client.list_volumes()} == before
    assert disk(DELETED, "disk") in out


def test_audit_fix_yes_answer_acts(run, populated, gateway_client):
    status, _, _ = run("audit", "--instance", LIVE, "--fix", answer="y\n")

    assert status == 1
    assert disk(DELETED, "disk") not in volume_names(gateway_client)


def test_audit_fix_exits_0_when_everything_is_fixed(run, system, gateway_client):
    system(disk(DELETED, "disk"), "host1")
    system(disk(LIVE, "disk"), "host1")

    status, found, _, _ = audit_json(run, "--instance", LIVE, "--fix", "--yes")

    assert status == 0
    assert found == {(disk(DELETED, "disk"), "instance deleted", "remove volume")}
    assert run("audit", "--instance", LIVE)[0] == 0


def test_fix_refuses_a_volume_renamed_after_listing(populated, simulator, gateway_client):
    from sio_backend import audit, inventory

    found = inventory.collect(gateway_client, IID)
    known = audit.KnownInstances(frozenset({LIVE}), "test")
    findings = [f for f in audit.classify(found, known) if f.problem.value == "instance deleted"]
    gateway_client.rename_volume(populated[disk(DELETED, "disk")], "data2")

    report = audit.fix(gateway_client, IID, findings)

    assert report.removed == []
    assert "'data2' does not carry" in report.refused[0]
    assert "data2" in volume_names(gateway_client)


def test_audit_from_libvirt_judges_only_volumes_on_this_host(run, system, gateway_client):
    other = str(uuid.uuid4())
    system(disk(LIBVIRT_TEST_DOMAIN, "disk"), "host1")
    system(disk(DELETED, "disk"), "host1")
    system(disk(other, "disk"), "host2")
    system(disk(other, "disk.swap"))

    status, found, document, _ = audit_json(run, "--libvirt-uri", "test:///default")

    assert status == 1
    assert found == {(disk(DELETED, "disk"), "instance deleted", "remove volume")}
    assert "test:///default" in document["instance_source"]


def test_audit_refuses_two_sources_and_bad_uuids(run, populated):
    status, _, err = run("audit", "--instance", LIVE, "--libvirt-uri", "test:///default")
    assert status == 2
    assert "one source" in err

    status, _, err = run("audit", "--instance", "not-a-uuid")
    assert status == 2
    assert "not-a-uuid" in err


def test_audit_with_nothing_to_report_exits_0(run, system):
    system(disk(LIVE, "disk"), "host1")

    status, out, _ = run("audit", "--instance", LIVE)

    assert status == 0
    assert out.splitlines()[0].split()[0] == "Name"


@pytest.mark.parametrize("api_version", ["4.5", "5.0"])
def test_a_disk_mapped_to_an_nvme_host_is_reported_never_unmapped(
    api_version, make_simulator, make_client, tmp_path, capsys
):
    """nova's hosts reach volumes through their SDC; an NVMe host (4.x and
    later) holds a mapping someone made by hand, and has no MDM connection
    state to call it disconnected by."""
    sim = make_simulator(api_version=api_version)
    client = make_client(sim)
    (nvme,) = [s for s in client.list_sdcs() if not s.is_sdc]
    name = disk(LIVE, "disk")
    volume = client.create_volume(name, client.storage_pool_id("pd1", "sp1"), 8, thin=True)
    client.map_volume(volume.id, sim.sdcs["host1"].id)
    client.map_volume(volume.id, nvme.id)
    conf = write_nova_conf(tmp_path / "nova.conf", sim, guid=sim.sdcs["host1"].guid)
    argv = ["--config-file", str(conf), "-f", "json"]

    assert main(["volumes", *argv]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["hosts"] == ["host1", "nvme1 (NVMe host)"]
    status = main(["audit", *argv, "--instance", LIVE, "--fix", "--yes"])
    document = json.loads(capsys.readouterr().out)

    assert status == 1
    (finding,) = document["findings"]
    assert (finding["problem"], finding["action"]) == ("mapped to an NVMe host", "report only")
    assert "nvme1 (NVMe host)" in finding["reason"]
    assert document["fix"] == []
    assert client.get_volume(volume.id).mapped_sdc_ids == {sim.sdcs["host1"].id, nvme.id}
