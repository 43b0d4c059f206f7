"""The patches that teach an unmodified nova 34 about ``images_type = sio``.

nova has no plugin hook for image backends, so :mod:`sio_backend._bootstrap`
runs these functions right after nova's own modules execute.  They touch
nova's private internals, so each one first checks that those internals are
still where nova 34 keeps them.  When a check fails nothing is patched and
``[libvirt] images_type = sio`` is *refused*: reading that value raises an
error that carries the reason, so nova-compute stops at start-up with our
message while hosts using any other ``images_type`` are not affected.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
from types import ModuleType
from typing import Any

from sio_backend import conf as sio_conf

LOG = logging.getLogger(__name__)

IMAGES_TYPE = "sio"
SUPPORTED_NOVA_MAJOR = 34
IMAGE_CLASS_PATH = "sio_backend.imagebackend.ScaleIOImage"

_CHOICE_HELP = "Dell PowerFlex (ScaleIO) volumes, provided by the sio_backend package"
_MARKER = "_sio_backend_patched"


class NovaCompatError(RuntimeError):
    """nova's internals differ from what the patches were written for."""


def nova_version() -> str:
    """Version of the installed nova distribution (read without importing nova)."""
    return importlib.metadata.version("nova")


def check_nova_version() -> None:
    """Refuse any nova other than the release line the patches were checked against."""
    try:
        version = nova_version()
    except importlib.metadata.PackageNotFoundError as exc:
        raise NovaCompatError(
            f"cannot tell which nova is installed (no 'nova' distribution metadata); "
            f"sio_backend supports nova {SUPPORTED_NOVA_MAJOR}.x only"
        ) from exc
    major = version.split(".", 1)[0]
    if major != str(SUPPORTED_NOVA_MAJOR):
        raise NovaCompatError(
            f"nova {version} is installed but sio_backend supports nova "
            f"{SUPPORTED_NOVA_MAJOR}.x only; install the sio_backend release made for "
            f"this nova, or nova {SUPPORTED_NOVA_MAJOR}.x"
        )


class _RefusedImagesType:
    """Stands in for the images_type option's type once a patch was refused.

    Every value but ``sio`` is validated by nova's own type, unchanged.
    """

    def __init__(self, wrapped: Any, reason: str) -> None:
        self.wrapped = wrapped
        self.reason = reason

    def __call__(self, value: Any) -> Any:
        if value == IMAGES_TYPE:
            raise ValueError(f"images_type={IMAGES_TYPE} is disabled: {self.reason}")
        return self.wrapped(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def _images_type_opt(libvirt_conf: ModuleType | None) -> Any:
    """The ``images_type`` option object, with its choices mapping."""
    opts = getattr(libvirt_conf, "libvirt_imagebackend_opts", None)
    if opts is None:
        raise NovaCompatError(
            "nova.conf.libvirt.libvirt_imagebackend_opts is missing, so the "
            f"[libvirt] images_type option cannot be extended; sio_backend supports "
            f"nova {SUPPORTED_NOVA_MAJOR}.x only"
        )
    opt = next((o for o in opts if getattr(o, "name", None) == "images_type"), None)
    if opt is None:
        raise NovaCompatError(
            "nova.conf.libvirt.libvirt_imagebackend_opts has no 'images_type' option; "
            f"sio_backend supports nova {SUPPORTED_NOVA_MAJOR}.x only"
        )
    return opt


def _refuse(libvirt_conf: ModuleType | None, error: Exception) -> None:
    """Leave nova unpatched and make ``images_type = sio`` fail with ``error``."""
    LOG.error("sio_backend: [libvirt] images_type=%s is disabled: %s", IMAGES_TYPE, error)
    try:
        opt = _images_type_opt(libvirt_conf)
    except NovaCompatError:
        return  # no option to guard; the error above is all that can be done
    if not isinstance(opt.type, _RefusedImagesType):
        opt.type = _RefusedImagesType(opt.type, str(error))


def patch_nova_conf(module: ModuleType) -> None:
    """Runs after ``nova.conf`` executes: accept ``sio`` and register ``[scaleio]``.

    ``nova.conf.libvirt`` executes inside ``nova.conf``'s own import, before
    ``nova.conf.CONF`` exists, so the package is the module to wait for.
    """
    libvirt_conf = getattr(module, "libvirt", None)
    try:
        check_nova_version()
        opt = _images_type_opt(libvirt_conf)
        choices = getattr(opt.type, "choices", None)
        if not isinstance(choices, dict):
            raise NovaCompatError(
                "the [libvirt] images_type option has no choices mapping to extend; "
                f"sio_backend supports nova {SUPPORTED_NOVA_MAJOR}.x only"
            )
    except NovaCompatError as exc:
        _refuse(libvirt_conf, exc)
        return
    choices[IMAGES_TYPE] = _CHOICE_HELP
    if getattr(opt.type, "lower_case_choices", None) is not None:
        opt.type.lower_case_choices.append(IMAGES_TYPE)
    sio_conf.register_opts(module.CONF)


class _LazyImageClass:
    """``Backend.BACKEND['sio']`` until the backend class is needed.

    ``sio_backend.imagebackend`` pulls in the gateway client and os-brick; it is
    imported only when nova first asks for the ``sio`` backend, so a host using
    another ``images_type`` never loads it and ``Backend()`` never fails on it.
    """

    def resolve(self) -> type:
        module_name, _, class_name = IMAGE_CLASS_PATH.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except Exception as exc:
            raise ImportError(
                f"[libvirt] images_type={IMAGES_TYPE} needs {IMAGE_CLASS_PATH}, which "
                f"failed to load ({type(exc).__name__}: {exc}); reinstall sio_backend "
                "into nova-compute's Python environment and check the traceback above"
            ) from exc

    def __getattr__(self, name: str) -> Any:
        # Dunder lookups (copy, pickle, mock introspection) must not import anything.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {IMAGE_CLASS_PATH}>"


LAZY_IMAGE_CLASS = _LazyImageClass()


def _backend_class(module: ModuleType) -> type:
    """``imagebackend.Backend``, after checking it still builds ``self.BACKEND``."""
    backend_cls = getattr(module, "Backend", None)
    if not isinstance(backend_cls, type):
        raise NovaCompatError(
            "nova.virt.libvirt.imagebackend.Backend is missing; "
            f"sio_backend supports nova {SUPPORTED_NOVA_MAJOR}.x only"
        )
    if vars(backend_cls).get(_MARKER):
        return backend_cls
    for method in ("__init__", "backend"):
        if method not in vars(backend_cls):
            raise NovaCompatError(
                f"nova.virt.libvirt.imagebackend.Backend.{method} is missing; "
                f"sio_backend supports nova {SUPPORTED_NOVA_MAJOR}.x only"
            )
    try:
        probe = backend_cls(False)
    except Exception as exc:
        raise NovaCompatError(
            f"nova.virt.libvirt.imagebackend.Backend(use_cow) failed ({exc}); "
            f"sio_backend supports nova {SUPPORTED_NOVA_MAJOR}.x only"
        ) from exc
    if not isinstance(getattr(probe, "BACKEND", None), dict):
        raise NovaCompatError(
            "nova.virt.libvirt.imagebackend.Backend() no longer sets the BACKEND dict; "
            f"sio_backend supports nova {SUPPORTED_NOVA_MAJOR}.x only"
        )
    return backend_cls


def _add_sio_backend(backend_cls: type) -> None:
    """Wrap ``Backend.__init__`` and ``Backend.backend`` once (marker attribute)."""
    if vars(backend_cls).get(_MARKER):
        return
    original_init = backend_cls.__init__
    original_backend = backend_cls.backend

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.BACKEND.setdefault(IMAGES_TYPE, LAZY_IMAGE_CLASS)

    @functools.wraps(original_backend)
    def backend(self: Any, *args: Any, **kwargs: Any) -> Any:
        image = original_backend(self, *args, **kwargs)
        return image.resolve() if image is LAZY_IMAGE_CLASS else image

    backend_cls.__init__ = __init__  # type: ignore[misc]
    backend_cls.backend = backend  # type: ignore[attr-defined]
    setattr(backend_cls, _MARKER, True)


def patch_imagebackend(module: ModuleType) -> None:
    """Runs after ``nova.virt.libvirt.imagebackend`` executes: add the ``sio`` backend."""
    try:
        check_nova_version()
        backend_cls = _backend_class(module)
    except NovaCompatError as exc:
        _refuse(importlib.import_module("nova.conf.libvirt"), exc)
        return
    _add_sio_backend(backend_cls)


PATCHES = {
    "nova.conf": patch_nova_conf,
    "nova.virt.libvirt.imagebackend": patch_imagebackend,
}
