"""Import hook that plugs sio_backend into an unmodified nova; run by ``sio_backend.pth``.

Every interpreter of the environment imports this module at start-up (privsep
helpers included), so it imports nothing but ``os`` and ``sys`` and never
raises: it only puts a finder in front of ``sys.meta_path``.  The finder
acts when nova itself imports ``nova.conf`` or ``nova.virt.libvirt.imagebackend``
(it runs :mod:`sio_backend.nova_compat`'s patch right after the module
executes) and serves ``nova.virt.sio_libvirt`` as an alias of
``sio_backend.driver`` so ``compute_driver = sio_libvirt.SioLibvirtDriver`` loads.
Importing nova here would be wrong: nova-compute must import eventlet-sensitive
modules only after its own ``monkey_patch`` call.

Set ``SIO_BACKEND_DISABLE_BOOTSTRAP=1`` to keep the ``.pth`` file inert.
"""

from __future__ import annotations

import os
import sys

DISABLE_ENV = "SIO_BACKEND_DISABLE_BOOTSTRAP"
PATCHED_MODULES = frozenset({"nova.conf", "nova.virt.libvirt.imagebackend"})
ALIASES = {"nova.virt.sio_libvirt": "sio_backend.driver"}


class _PatchingLoader:
    """Delegates to nova's own loader, then patches the freshly executed module."""

    def __init__(self, loader: object, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: object) -> object:
        return self._loader.create_module(spec)

    def exec_module(self, module: object) -> None:
        self._loader.exec_module(module)
        from sio_backend import nova_compat  # noqa: PLC0415 - only once nova is importing

        nova_compat.PATCHES[self._name](module)

    def __getattr__(self, name: str) -> object:
        # get_code, get_source, get_resource_reader... stay nova's loader's.
        return getattr(self._loader, name)


class _AliasLoader:
    """Makes the alias name refer to the target module object itself."""

    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: object) -> object:
        import importlib  # noqa: PLC0415

        return importlib.import_module(self._target)

    def exec_module(self, module: object) -> None:
        """The target module executed when it was imported; nothing is left to run."""


class NovaHookFinder:
    """A ``sys.meta_path`` finder (by protocol: ``importlib.abc`` costs ~25 ms per start)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object | None:
        if fullname in ALIASES:
            from importlib.machinery import ModuleSpec  # noqa: PLC0415

            return ModuleSpec(fullname, _AliasLoader(ALIASES[fullname]))
        if fullname not in PATCHED_MODULES:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader, fullname)
                return spec
        return None


def install() -> None:
    """Put the finder first in ``sys.meta_path`` (idempotent) and patch modules already loaded.

    The second part matters only for late callers such as the
    ``nova-compute-sio`` wrapper; at interpreter start nova is not loaded.
    """
    if not any(isinstance(finder, NovaHookFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, NovaHookFinder())
    loaded = [name for name in sorted(PATCHED_MODULES) if name in sys.modules]
    if loaded:
        from sio_backend import nova_compat  # noqa: PLC0415

        for name in loaded:
            nova_compat.PATCHES[name](sys.modules[name])


def _disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("1", "true", "yes")


if not _disabled():
    try:
        install()
    except Exception as exc:  # a .pth line must never break an interpreter
        sys.stderr.write(f"sio_backend: cannot install the nova import hook: {exc!r}\n")
