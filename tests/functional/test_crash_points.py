"""Crash points: nova-compute dies just after each gateway call of spawn, resize, live migration.

Each flow runs once fault-free (caches warm) and its gateway calls are
recorded, as the fault matrix does.  Then, for every call of that sequence
that changes something (a crash after a read leaves what a crash after the
write before it leaves), the flow runs again and the host making that call dies just after the
gateway applied it: :class:`Crash` is a BaseException, so no ``except
Exception`` handler (nova's or ours) catches it, and every later gateway
call of the dead host raises it too, so no rollback of ours reaches the
gateway either.  The host then restarts (a new Storage, empty caches), and:

- ``sio-backend audit`` lists exactly what the crash left: nothing the
  instance still needs is marked for removal, a volume nova forgot is;
- what nova does after such a restart (``_init_instance``, the user's delete,
  the migration's rollback, an operator's reset-state and hard reboot),
  and where that cannot, ``audit --fix`` and the audit's own advice,
  converge to a clean state: no leaked volume or mapping, the instance's
  data intact (a marker written before the flow reads back).

The ordinary-exception variant (our rollback runs) is the fault matrix's.
"""

from __future__ import annotations

import contextlib
import io
import json
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from nova.compute import task_states, vm_states
from requests.adapters import BaseAdapter
from sio_fixtures.cloud import HOSTS, IID, PATTERN, make_flavor
from sio_fixtures.fault_matrix import MARK, MARK_AT, CallTarget, MatrixTestCase
from test_driver_flows_migrate import LiveMigration

from sio_backend import naming, storage
from sio_backend.cmd.main import main
from sio_backend.demo.device_io import write
from sio_backend.demo.nova_conf import write_nova_conf
from sio_backend.flavor import DiskPlacement
from sio_backend.simulator.host import simulated_storage

MiB = 1024**2
STALE = b"what a dead copy wrote".ljust(4096, b"!")
STALE_AT = 300 * MiB


def is_read(method: str, route: str) -> bool:
    """A call that changes nothing: a crash after it is the crash after the write before it."""
    return method == "GET" or route.endswith(("/queryIdByKey", "/querySelectedStatistics"))


class Crash(BaseException):
    """The compute process died here: none of its exception handlers run."""


class CrashInjector:
    """Kills the host whose client makes the k-th call of one route, just after the gateway answers.

    A dead host's later calls never reach the gateway.  :meth:`restart`
    brings the host back with a new Storage, as a restarted nova-compute.
    """

    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.target: CallTarget | None = None
        self.crashed: str | None = None
        for host in HOSTS:
            self._wrap(host, cloud.storage(host).client)

    def _wrap(self, host: str, client) -> None:
        client.mount(_CrashingAdapter(self, host, client.adapter))

    def arm(self, method: str, route: str, occurrence: int) -> None:
        self.target, self.crashed = CallTarget(method, route, occurrence), None

    def restart(self) -> str | None:
        """Bring the crashed host back (fresh Storage and client); which host it was."""
        host, self.crashed, self.target = self.crashed, None, None
        if host is not None:
            fresh = simulated_storage(
                self.cloud.simulator, host, installation_id=IID, wait_timeout=5
            )
            storage.register(host, fresh)
            self._wrap(host, fresh.client)
        return host


class _CrashingAdapter(BaseAdapter):
    """The client's own adapter, but the host dies when the injector says so."""

    def __init__(self, injector: CrashInjector, host: str, inner: BaseAdapter) -> None:
        super().__init__()
        self._injector = injector
        self._host = host
        self._inner = inner

    def send(self, request, **kwargs):
        injector, host = self._injector, self._host
        if injector.crashed == host:
            raise Crash(f"{host} is down")
        response = self._inner.send(request, **kwargs)
        path = urlsplit(request.url).path
        if injector.target is not None and injector.target.reached(
            request.method, path.rstrip("/")
        ):
            injector.crashed = host
            raise Crash(f"{host} died after {request.method} {path}")
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass
class CrashFlow:
    name: str
    setup: Callable[[], object]  # fault-free; returns the instance
    run: Callable[[object], None]  # the flow crashes are injected into
    recover: Callable[[object, str], None]  # (instance, crashed host): audit, retry, check
    teardown: Callable[[object], None]


class CrashPointsTestCase(MatrixTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.crasher = CrashInjector(self.cloud)
        self.conf = write_nova_conf(
            self.cloud.tmp / "audit.conf",
            self.cloud.simulator,
            guid=self.cloud.simulator.sdcs["host1"].guid,
            installation_identifier=IID,
        )
        self.phase = ""

    # -- the audit, as an operator runs it -------------------------------------

    def audit(self, *known: str, fix: bool = False) -> set[tuple[str, str, str]]:
        """``sio-backend audit --instance ...`` findings as (name, problem, action)."""
        arguments = ["audit", "-f", "json", "--config-file", str(self.conf)]
        for instance_uuid in known or (str(uuid.uuid4()),):  # an unrelated instance
            arguments += ["--instance", instance_uuid]
        if fix:
            arguments += ["--fix", "--yes"]
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            status = main(arguments)
        document = json.loads(out.getvalue())
        if status == 2 or (fix and any(line.startswith("error") for line in document["fix"] or ())):
            raise AssertionError(f"audit failed: {document}")
        return {
            (f["name"], f["problem"], f["action"])
            for f in document["findings"]
            if f["kind"] != "image cache" or f["problem"] != "unused image cache"
        }

    def expected_findings(self, instance) -> set[tuple[str, str, str]]:
        """What the audit must say of a known instance's volumes, read off the gateway."""
        volumes = self.cloud.volumes()
        found = set()
        for name in self.cloud.instance_volume_names(instance):
            owner = naming.parse_volume_name(name)
            if owner.kind is naming.VolumeKind.RESIZE_SNAPSHOT or owner.disk.rescue:
                found.add((name, "leftover", "report only"))
            elif owner.kind is naming.VolumeKind.MOVE:
                disk = naming.disk_volume_name(IID, instance.uuid, owner.disk_name)
                if disk in volumes:  # a partial copy beside the whole disk
                    found.add((name, "leftover", "remove volume"))
                else:  # the disk's only copy
                    found.add((name, "interrupted move", "report only"))
            elif owner.kind is naming.VolumeKind.IMAGE_SNAPSHOT:
                found.add((name, "leftover", "remove volume"))
            elif len(volumes[name].mappings) > 1:
                found.add((name, "mapped to several hosts", "report only"))
        return found | self.import_findings()

    def import_findings(self) -> set[tuple[str, str, str]]:
        """Image imports: one mapped nowhere has no writer and goes; a mapped one is reported."""
        found = set()
        for name, volume in self.cloud.volumes().items():
            owner = naming.parse_volume_name(name)
            if getattr(owner, "kind", None) is naming.VolumeKind.IMAGE_IMPORT:
                action = "report only" if volume.mappings else "remove volume"
                found.add((name, "leftover", action))
        return found

    def assert_audit(self, instance) -> None:
        expected = self.expected_findings(instance)
        self.assertEqual(expected, self.audit(instance.uuid), "audit of the known instance")

    def assert_forgotten_instance_removed_by_fix(self, instance) -> None:
        """nova deleted the instance while its host was down: --fix removes exactly its volumes."""
        left = self.cloud.instance_volume_names(instance)
        expected = {(name, "instance deleted", "remove volume") for name in left}
        self.assertEqual(expected | self.import_findings(), self.audit(fix=True))
        self.assertEqual(set(), self.cloud.instance_volume_names(instance))
        self.assertEqual(self.import_findings(), self.audit())

    def assert_data(self, instance) -> None:
        root = self.cloud.volume_name(instance)
        self.assertEqual(MARK, self.data(root, MARK_AT, len(MARK)), f"marker on {root}")
        self.assertEqual(PATTERN, self.data(root, 4 * MiB, len(PATTERN)), f"image on {root}")

    # -- the crash loop -------------------------------------------------------------

    def run_crashes(self, flow: CrashFlow) -> None:
        cloud = self.cloud
        baseline = self.baseline(flow)
        failures, cases = [], 0
        for index, (method, route) in enumerate(baseline):
            if is_read(method, route):
                continue
            cases += 1
            occurrence = baseline[: index + 1].count((method, route))
            case = f"{index:>2} {method} {route} #{occurrence}"
            instance = flow.setup()
            self.crasher.arm(method, route, occurrence)
            try:
                flow.run(instance)
            except Crash:
                pass
            host = self.crasher.restart()
            try:
                if host is None:
                    raise AssertionError("the crash never happened")
                flow.recover(instance, host)
                flow.teardown(instance)
                cloud.assert_no_leaks()
            except Exception as exc:
                where = "".join(traceback.format_tb(exc.__traceback__)[-2:])
                failures.append(f"{case} ({host}, {self.phase}): {exc}\n{where}")
                self._scrub(instance)
                with contextlib.suppress(Exception):
                    flow.teardown(instance)
        print(f"crash points {flow.name}: {cases} cases, {len(failures)} failed")
        if failures:
            self.fail(f"{flow.name}: {len(failures)} failed crash points:\n" + "\n".join(failures))

    # -- spawn -----------------------------------------------------------------------

    def spawn_flow(self, name: str, teardown: Callable[[object], None]) -> CrashFlow:
        """Restart: ``_init_instance`` puts the instance in ERROR; the user deletes it.

        Every other case, the API deleted it instead while the host was down
        (nova's local delete), so only the audit can find its volumes.
        """
        cloud = self.cloud
        forgotten = [False]

        def recover(instance, host):
            self.assertEqual("host1", host)
            self.assert_audit(instance)  # its volumes are its own: nothing to fix
            forgotten[0] = not forgotten[0]
            if forgotten[0]:
                self.assert_forgotten_instance_removed_by_fix(instance)
                return
            instance.vm_state, instance.task_state = vm_states.ERROR, None
            cloud.delete(instance)
            self.assertEqual(set(), cloud.instance_volume_names(instance))
            self.assertEqual(self.import_findings(), self.audit(instance.uuid, fix=True))
            # Booting it again works, and takes over an import this host abandoned.
            instance.vm_state, instance.task_state = vm_states.BUILDING, task_states.SPAWNING
            cloud.spawn(instance)
            cloud.assert_state(instance, self.expected(instance, {"host1"}))
            self.assertEqual(set(), self.audit(instance.uuid))

        return CrashFlow(name, self.new_instance, cloud.spawn, recover, teardown)

    def test_spawn(self) -> None:
        self.run_crashes(self.spawn_flow("spawn", self.cloud.delete))

    def test_first_boot_of_an_image_cached_in_a_volume(self) -> None:
        """The image is imported into ``_j0``, renamed ``_i0``, and the root cloned from it."""
        cloud = self.cloud
        # Long enough for no wait to end in the test; short enough not to hang it.
        self.flags(image_cache="volume", image_cache_import_timeout=30, group="scaleio")

        def teardown(instance):
            cloud.delete(instance, host=instance.host)
            client = cloud.storage().client
            for name, volume in cloud.volumes().items():
                if isinstance(naming.parse_volume_name(name), naming.ImageCacheVolumeName):
                    client.remove_volume(volume.id)

        self.run_crashes(self.spawn_flow("first_boot_image_cache", teardown))

    # -- resize ------------------------------------------------------------------------

    def test_resize_to_another_pool(self) -> None:
        """An image-cache root copied to sp2 on host2, its swap migrated there.

        Every change is made by the destination's finish_migration.  After a
        crash there (RESIZE_FINISH), nova's ``_init_instance`` leaves the
        instance as it is; the operator resets its state and hard-reboots it,
        which finishes an interrupted move, then acts on what the audit
        reports.  (A crash on the source, RESIZE_MIGRATING, would be reverted
        by its restart; the source changes nothing on the gateway.)
        """
        cloud = self.cloud
        self.flags(image_cache="volume", group="scaleio")
        cloud.simulator.add_storage_pool("pd1", "sp2")
        big = make_flavor("big.sp2", 16, swap=8192, **{"disk:pool": "sp2"})
        old = self.new_instance().flavor

        migrations = {}

        def run(instance):
            migrations[instance.uuid] = cloud.resize(instance, big, "host1", "host2")

        def recover(instance, host):
            # The source only powers the guest off: every change is the destination's.
            self.assertEqual(("host2", task_states.RESIZE_FINISH), (host, instance.task_state))
            self.assert_audit(instance)
            instance.vm_state, instance.task_state = vm_states.ACTIVE, None  # reset-state
            cloud.reboot_hard(instance, host="host2")
            self.assertTrue(cloud.domain_running(instance, "host2"))
            self.assert_data(instance)
            self.settle_after_operator_recovery(instance, runs_on="host2")

        def teardown(instance):
            if instance.vm_state == vm_states.RESIZED:  # the manager confirms before deleting
                cloud.confirm_resize(instance, migrations[instance.uuid], "host1")
            cloud.delete(instance, host=instance.host)

        def setup():
            instance = self.spawned()
            instance.flavor = old
            return instance

        self.run_crashes(CrashFlow("resize", setup, run, recover, teardown))

    def test_a_move_after_an_interrupted_copy_starts_over(self) -> None:
        """A partial ``_mr`` left by a dead copy is never reused: it may hold stale data.

        Since the crash the instance ran again on its old root and zeroed a
        region the partial copy had; a copy onto the stale volume that skips
        zeros would bring that data back.
        """
        cloud = self.cloud
        self.flags(image_cache="volume", group="scaleio")
        sp2 = cloud.simulator.add_storage_pool("pd1", "sp2")
        instance = self.spawned()
        host2 = cloud.storage("host2")
        stale = host2.create(
            naming.derived_volume_name(IID, instance.uuid, "disk", naming.VolumeKind.MOVE),
            DiskPlacement("pd1", "sp2", thin=True),
            8 * 1024 * MiB,
        )
        with cloud.on("host2"):
            write(host2.attach(stale), STALE_AT, STALE)
            host2.detach(host2.get(stale.id))

        cloud.resize(
            instance,
            make_flavor("big.sp2", 16, swap=8192, **{"disk:pool": "sp2"}),
            "host1",
            "host2",
        )

        root = cloud.volume_name(instance)
        self.assertEqual(sp2, cloud.volumes()[root].pool_id)
        self.assert_data(instance)
        self.assertEqual(bytes(len(STALE)), self.data(root, STALE_AT, len(STALE)))
        self.assertNotIn(stale.name, cloud.volumes())

    def settle_after_operator_recovery(self, instance, runs_on: str) -> None:
        """--fix what it may; then the resize snapshot, removed by hand as its finding says.

        The hard reboot took the disks from the source (a fence), so no
        mapping to two hosts is left.
        """
        self.assert_audit(instance)
        self.audit(instance.uuid, fix=True)
        self.assert_data(instance)
        snapshot = naming.derived_volume_name(
            IID, instance.uuid, "disk", naming.VolumeKind.RESIZE_SNAPSHOT
        )
        left = self.audit(instance.uuid)
        self.assertLessEqual(left, {(snapshot, "leftover", "report only")})
        if left:  # "if nova shows the instance neither resized nor rescued, remove it"
            client = self.cloud.storage(runs_on).client
            client.remove_volume(client.find_volume(snapshot).id)
        self.assertEqual(set(), self.audit(instance.uuid))
        self.assert_data(instance)
        self.assertTrue(self.cloud.domain_running(instance, runs_on))

    # -- live migration ------------------------------------------------------------------

    def test_live_migration(self) -> None:
        """A crash before the guest moved: the source rolls back.  After: the rest is run again."""
        cloud = self.cloud
        migrations: dict[str, LiveMigration] = {}

        def run(instance):
            migration = migrations[instance.uuid] = LiveMigration(cloud, instance)
            self.phase = "check"
            migration.check(shared_path=False)
            self.phase = "pre_live_migration"
            migration.pre_live_migration()
            self.phase = "migrate"
            migration.migrate_domain()
            self.phase = "post_live_migration"
            migration.post_live_migration()

        def recover(instance, host):
            self.assert_audit(instance)
            migration = migrations[instance.uuid]
            if self.phase == "post_live_migration":
                migration.post_live_migration()
                self.at_rest(instance, {"host2"})
                self.assertTrue(cloud.domain_running(instance, "host2"))
            else:
                # The source's _rollback_live_migration (host1 alive), or host1's
                # _init_instance → _reset_live_migration when host1 itself died.
                if host == "host2":
                    migration.rollback(pre_live_migration_failed=True)
                instance.task_state = None
                self.at_rest(instance, {"host1"})
                self.assertTrue(cloud.domain_running(instance, "host1"))
            self.assertEqual(set(), self.audit(instance.uuid))

        def teardown(instance):
            cloud.delete(instance, host=instance.host)

        self.run_crashes(CrashFlow("live_migration", self.spawned, run, recover, teardown))
