"""What this host already knows of an instance's volumes, so one operation asks once.

nova asks for each disk of an instance several times in one operation
(``cache`` and then the domain definition on spawn; ``exists``, the
revert snapshot and the domain definition on a resize), on new image
backend objects each time.  Asking the gateway each time cost two calls
per disk per question.  Two kinds of knowledge replace them:

* **views**, per operation: within one driver entry point on one thread
  (:meth:`KnownVolumes.operation`), the volumes it read, created, mapped,
  grew, renamed or removed, or found absent.  A later step of the same
  operation uses the view instead of asking again; the next operation
  reads afresh.  Only this operation changes the instance's volumes
  meanwhile: nova runs one operation of an instance at a time, and other
  hosts act on them only in the flows that fence this one.
* **ids**, per process: the id of every instance volume this process
  created, found or renamed.  An id only says which volumes to read: an
  operation reads all the known volumes of its instance in one call and
  keeps each one whose answer still carries the name it was known by.  A
  volume removed, or renamed by an operator, drops out of the answer and
  is looked up by name as before; ids are never acted on unread.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Final

from sio_backend import naming
from sio_backend.gateway import GatewayClient, Volume

# Instances whose volume ids one process keeps; the oldest used is forgotten.
MAX_INSTANCES = 4096


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


def instance_of(name: str) -> str | None:
    """The instance a volume name belongs to, or None for a name that is no instance's."""
    owner = naming.parse_volume_name(name)
    return owner.instance_uuid if isinstance(owner, naming.InstanceVolumeName) else None


class _Operation:
    """The views of one operation on one instance (one thread)."""

    def __init__(self) -> None:
        self.depth = 0
        self.views: dict[str, Volume | None] = {}
        self.read_known = False  # the known ids were read once already
        self.new_instance = False  # no volume of the instance exists but those it makes


class KnownVolumes:
    """Volume ids per instance (per process) and views per operation (per thread)."""

    def __init__(self, max_instances: int = MAX_INSTANCES) -> None:
        self._max_instances = max_instances
        self._lock = threading.Lock()
        self._ids: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._local = threading.local()

    # -- operations -----------------------------------------------------------

    def _operations(self) -> dict[str, _Operation]:
        if not hasattr(self._local, "operations"):
            self._local.operations = {}
        return self._local.operations

    @contextlib.contextmanager
    def operation(self, instance_uuid: str, *, new_instance: bool = False) -> Iterator[None]:
        """Share what one operation on the instance learns among its steps (nestable).

        ``new_instance``: the first boot of an instance, whose volumes do not
        exist yet: they are created without asking first, and a volume that
        exists after all (left by an earlier attempt, or made by a create
        whose answer was lost) is adopted by the create if it is exactly
        what was asked for, or refused with its differences.
        """
        operations = self._operations()
        instance_uuid = str(uuid.UUID(instance_uuid))  # as names decode it
        current = operations.setdefault(instance_uuid, _Operation())
        if current.depth == 0:
            current.new_instance = new_instance
        current.depth += 1
        try:
            yield
        finally:
            current.depth -= 1
            if current.depth == 0:
                del operations[instance_uuid]

    def _current(self, name: str) -> _Operation | None:
        owner = instance_of(name)
        return None if owner is None else self._operations().get(owner)

    def in_operation(self, name: str) -> bool:
        return self._current(name) is not None

    def view(self, name: str) -> Volume | _Unknown | None:
        """This operation's view of the volume called ``name``: a volume, None
        (this operation found or made it absent), or UNKNOWN."""
        current = self._current(name)
        if current is None:
            return UNKNOWN
        return current.views.get(name, None if current.new_instance else UNKNOWN)

    def ids_to_read(self, name: str) -> dict[str, str]:
        """The known ids of the instance of ``name``, once per operation; else none."""
        current = self._current(name)
        if current is None or current.read_known:
            return {}
        current.read_known = True
        with self._lock:
            known = self._ids.get(instance_of(name) or "", {})
            return {n: i for n, i in known.items() if n not in current.views}

    def ids_of(self, instance_uuid: str) -> dict[str, str]:
        """The volume ids this process knows for the instance, by volume name."""
        with self._lock:
            return dict(self._ids.get(str(uuid.UUID(instance_uuid)), {}))

    # -- learning ---------------------------------------------------------------

    def seen(self, name: str, volume: Volume | None) -> None:
        """The gateway (or this operation's own change) says this of ``name``."""
        current = self._current(name)
        if current is not None:
            current.views[name] = volume
        if volume is None:
            self.forget(name)
        else:
            self.learn_id(name, volume.id)

    def learn_id(self, name: str, volume_id: str) -> None:
        owner = instance_of(name)
        if owner is None:
            return
        with self._lock:
            self._ids.setdefault(owner, {})[name] = volume_id
            self._ids.move_to_end(owner)
            while len(self._ids) > self._max_instances:
                self._ids.popitem(last=False)

    def forget(self, name: str) -> None:
        """The id known for ``name`` is no longer its volume's (removed, renamed)."""
        owner = instance_of(name) or ""
        with self._lock:
            known = self._ids.get(owner)
            if known is not None:
                known.pop(name, None)
                if not known:
                    del self._ids[owner]

    def forget_view(self, name: str) -> None:
        """This operation no longer knows ``name`` (the id, if any, stays)."""
        current = self._current(name)
        if current is not None:
            current.views.pop(name, None)


def forgets_on_error(method: Callable) -> Callable:
    """A change that failed may still have happened: later steps of the
    operation read the volumes it names afresh instead of trusting a view."""

    @functools.wraps(method)
    def changing(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            for arg in args:
                name = arg.name if isinstance(arg, Volume) else arg
                if isinstance(name, str):
                    self.known.forget_view(name)
            raise

    return changing


class Lookups:
    """The gateway asked about instance volumes only for what the operation does not know."""

    def __init__(
        self,
        client: Callable[[], GatewayClient],
        known: KnownVolumes,
        installation_id: Callable[[], str],
    ) -> None:
        self._client = client
        self.known = known
        self._installation_id = installation_id

    def find(self, name: str) -> Volume | None:
        """The volume called ``name``, or None; asked once per operation."""
        seen = self.view(name)
        if seen is not UNKNOWN:
            return seen
        volume = self._client().find_volume(name)
        self.known.seen(name, volume)
        return volume

    def find_all(self, names: list[str]) -> dict[str, Volume]:
        """The volumes of these names that exist: an id per name this operation
        does not know yet, then one read of all of them (n + 1 calls, not 2n)."""
        found: dict[str, Volume] = {}
        ids: dict[str, str] = {}
        for name in names:
            seen = self.view(name)
            if isinstance(seen, Volume):
                found[name] = seen
            elif seen is UNKNOWN:
                volume_id = self._client().volume_id_by_name(name)
                if volume_id is None:
                    self.known.seen(name, None)
                else:
                    ids[name] = volume_id
        if ids:
            self._read_known(ids)
            for name in ids:
                seen = self.known.view(name)
                volume = seen if isinstance(seen, Volume) else self._client().find_volume(name)
                if volume is not None:
                    found[name] = volume
        return found

    def exists(self, name: str) -> bool:
        seen = self.view(name)
        if seen is not UNKNOWN:
            return seen is not None
        volume_id = self._client().volume_id_by_name(name)
        if volume_id is None:
            self.known.seen(name, None)
            return False
        self.known.learn_id(name, volume_id)
        return True

    def view(self, name: str) -> Volume | object | None:
        """What this operation knows of ``name``, reading every volume of its
        instance this process knows the id of first (one call for all)."""
        seen = self.known.view(name)
        if seen is UNKNOWN:
            ids = self.known.ids_to_read(name)
            if ids:
                self._read_known(ids)
                seen = self.known.view(name)
        return seen

    def find_snapshots_of(self, root_name: str, names: list[str]) -> None:
        """Learn in one call which of the root's snapshots called ``names`` exist.

        Snapshots of a volume live in its V-Tree, so a root that is the base
        of its own V-Tree has them all in one listing, where looking each up
        by name costs a call per name.  A root that is itself a snapshot (a
        clone of a cached image, whose V-Tree may hold hundreds of other
        clones; or the revert snapshot a resize revert renamed) is not
        listed: its snapshots are looked up by name, as is every name when
        the root is not known to this operation.
        """
        unknown = [name for name in names if self.view(name) is UNKNOWN]
        root = self.view(root_name)
        if len(unknown) < 2 or not isinstance(root, Volume):
            return
        if root.vtree_id is None or root.ancestor_id is not None:
            return
        members = {v.name: v for v in self._client().vtree_volumes(root.vtree_id)}
        for name in unknown:
            self.known.seen(name, members.get(name))

    def _read_known(self, ids: dict[str, str]) -> None:
        by_id = {
            volume.id: volume for volume in self._client().volumes_by_ids(sorted(ids.values()))
        }
        for name, volume_id in ids.items():
            volume = by_id.get(volume_id)
            if volume is not None and volume.name == name:
                self.known.seen(name, volume)
                continue
            # Removed, or renamed since: whatever is called ``name`` now is looked up.
            self.known.forget(name)
            if volume is not None and naming.is_ours(volume.name, self._installation_id()):
                self.known.seen(volume.name, volume)
