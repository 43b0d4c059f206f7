"""Several nova-compute hosts in one process, each with its own identity.

nova's functional framework runs every compute service in the test process,
where ``CONF.host`` is one global value.  The driver and the image backend
find this host's SDC and decide what this host may remove from
``CONF.host``, and nova's libvirt driver keeps instance files under
``CONF.instances_path``: with one value for all computes, every volume would
be mapped to the same SDC and every host would share one instances path, and
the tests would pass or fail for the wrong reasons.

:class:`ComputeHostsFixture` gives each thread the identity of the compute
it works for.  A thread takes a compute's identity when

- it dispatches an RPC message to that compute's manager (oslo.messaging's
  dispatcher, which every cast and call to ``compute.<host>`` goes through),
- it was spawned through nova's ``thread_pool_factory`` by a thread that had
  one (builds, live migrations, the migration monitor), or
- the test runs code for a host inside :meth:`ComputeHostsFixture.on`
  (service start-up, periodic tasks).

While a thread has an identity, ``CONF.host`` and ``CONF.instances_path``
read that compute's values; other threads (API, conductor, scheduler) read
the global ones.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from pathlib import Path

import fixtures
import nova.conf
from nova import thread_pool_factory
from oslo_messaging.rpc import dispatcher

CONF = nova.conf.CONF

# The options that differ between the computes, in oslo.config's (group, name) form.
_PER_HOST_OPTIONS = {(None, "host"), (None, "instances_path")}


class ComputeHostsFixture(fixtures.Fixture):
    """Per-thread ``CONF.host`` and ``CONF.instances_path`` for the computes of one test."""

    def __init__(self, root: Path, *, shared_instances_path: bool = False) -> None:
        """``shared_instances_path``: all computes keep instance files in one directory,
        as on NFS; otherwise each has its own."""
        super().__init__()
        self.root = root
        self.shared_instances_path = shared_instances_path
        self._local = threading.local()
        self._hosts: set[str] = set()

    def add(self, host: str) -> Path:
        """Register ``host``; its instances path (created here)."""
        self._hosts.add(host)
        path = self.instances_path(host)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def instances_path(self, host: str) -> Path:
        return self.root / ("shared" if self.shared_instances_path else host) / "instances"

    @property
    def current(self) -> str | None:
        """The compute this thread works for, or None (a controller thread)."""
        return getattr(self._local, "host", None)

    @contextlib.contextmanager
    def on(self, host: str | None) -> Iterator[None]:
        """Run the body as ``host`` (None: as no compute)."""
        if host is not None and host not in self._hosts:
            raise ValueError(f"{host!r} is not a compute of this test: {sorted(self._hosts)}")
        previous = self.current
        self._local.host = host
        try:
            yield
        finally:
            self._local.host = previous

    def _setUp(self) -> None:
        self.useFixture(fixtures.MockPatchObject(CONF, "_get", self._conf_get(CONF._get)))
        self.useFixture(
            fixtures.MockPatchObject(
                dispatcher.RPCDispatcher,
                "dispatch",
                self._dispatch(dispatcher.RPCDispatcher.dispatch),
            )
        )
        self.useFixture(
            fixtures.MockPatchObject(
                thread_pool_factory, "spawn_on", self._spawn_on(thread_pool_factory.spawn_on)
            )
        )

    def _conf_get(self, get):
        """oslo.config's lookup, answering the per-host options for this thread's compute."""

        @functools.wraps(get)
        def _get(name, group=None, namespace=None):
            host = self.current
            if host is not None and (getattr(group, "name", group), name) in _PER_HOST_OPTIONS:
                return host if name == "host" else str(self.instances_path(host))
            return get(name, group, namespace)

        return _get

    def _dispatch(self, dispatch):
        """RPCDispatcher.dispatch, run as the compute whose manager is an endpoint."""
        fixture = self

        @functools.wraps(dispatch)
        def _dispatch(dispatcher_, incoming):
            host = fixture._endpoint_host(dispatcher_.endpoints)
            with fixture.on(host):
                return dispatch(dispatcher_, incoming)

        return _dispatch

    def _endpoint_host(self, endpoints) -> str | None:
        for endpoint in endpoints:
            if (
                getattr(endpoint, "service_name", None) == "compute"
                and endpoint.host in self._hosts
            ):
                return endpoint.host
        return None

    def _spawn_on(self, spawn_on):
        """nova's thread spawner, handing the spawning thread's compute to the new thread."""
        fixture = self

        @functools.wraps(spawn_on)
        def _spawn_on(executor_type, func, *args, **kwargs):
            host = fixture.current

            @functools.wraps(func)
            def as_host(*a, **kw):
                with fixture.on(host):
                    return func(*a, **kw)

            return spawn_on(executor_type, as_host, *args, **kwargs)

        return _spawn_on
