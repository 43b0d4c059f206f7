"""Registration with an unmodified nova 34 through ``sio_backend.pth``.

The subprocess tests run this environment's own interpreter from an empty
directory, so they see exactly what is installed (the wheel under tox, the
editable install in a dev venv), never the source tree through the cwd.
nova modules are imported inside the tests, not at collection, so this module
does not decide eventlet monkey patching for the pytest process.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import site
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from sio_backend import _bootstrap, nova_compat

PTH_NAME = "sio_backend.pth"
NOVA_NAMES = ("raw", "flat", "qcow2", "lvm", "rbd", "ploop", "default")

# Runs nova-compute's real main() (or the nova-compute-sio wrapper) and stops it
# at priv_context.init, the first call after the configuration is parsed and
# every option is read by log_opt_values (which crashes on an invalid value).
# The stop is planted by a finder of this script, so nothing from nova is
# imported before nova.cmd.compute, exactly as in the real console scripts.
START_SCRIPT = textwrap.dedent(
    """
    import json, sys, types

    mode, config_file, fake_nova_version = sys.argv[1:4]
    if fake_nova_version:
        from sio_backend import nova_compat
        nova_compat.nova_version = lambda: fake_nova_version

    def report(**kwargs):
        from nova import monkey_patch
        from nova.conf import CONF
        print(json.dumps({
            "images_type": CONF.libvirt.images_type,
            "rest_server_ip": CONF.scaleio.rest_server_ip if "scaleio" in CONF else None,
            "eventlet_patched": monkey_patch.is_patched(),
            "eventlet_loaded": "eventlet" in sys.modules,
            "libvirt_imagebackend_loaded": "nova.virt.libvirt.imagebackend" in sys.modules,
            "sio_imagebackend_loaded": "sio_backend.imagebackend" in sys.modules,
        }))
        raise SystemExit(0)

    class StopAfterConfig:
        def find_spec(self, name, path=None, target=None):
            if name != "nova.cmd.compute":
                return None
            sys.meta_path.remove(self)
            import importlib.util
            spec = importlib.util.find_spec(name)
            real_exec = spec.loader.exec_module
            def exec_module(module):
                real_exec(module)
                module.priv_context = types.SimpleNamespace(init=report)
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, StopAfterConfig())
    sys.argv = ["nova-compute", "--config-file", config_file]
    if mode == "nova-compute":
        from nova.cmd.compute import main
    else:
        from sio_backend.cmd.nova_compute import main
    main()
    raise SystemExit("nova-compute main() returned without reaching priv_context.init")
    """
)


def run_python(
    code: str, *args: str, cwd: Path, disable_bootstrap: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (_bootstrap.DISABLE_ENV, "OS_NOVA_DISABLE_EVENTLET_PATCHING", "PYTHONPATH")
    }
    if disable_bootstrap:
        env[_bootstrap.DISABLE_ENV] = "1"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_nova_conf(directory: Path, images_type: str) -> Path:
    path = directory / "nova.conf"
    path.write_text(
        textwrap.dedent(
            f"""
            [DEFAULT]
            debug = true
            use_stderr = true
            state_path = {directory}
            [libvirt]
            images_type = {images_type}
            [scaleio]
            rest_server_ip = 192.0.2.10
            """
        )
    )
    return path


def start_nova_compute(
    tmp_path: Path,
    images_type: str,
    *,
    mode: str = "nova-compute",
    disable_bootstrap: bool = False,
    fake_nova_version: str = "",
) -> subprocess.CompletedProcess[str]:
    conf = write_nova_conf(tmp_path, images_type)
    return run_python(
        START_SCRIPT,
        mode,
        str(conf),
        fake_nova_version,
        cwd=tmp_path,
        disable_bootstrap=disable_bootstrap,
    )


def started(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the .pth file ---------------------------------------------------------------


def test_installed_distribution_ships_the_pth_at_site_packages_root():
    dist = importlib.metadata.distribution("sio_backend")
    (pth,) = [f for f in dist.files or () if f.name == PTH_NAME]
    path = Path(dist.locate_file(pth)).resolve()
    site_dirs = {Path(d).resolve() for d in site.getsitepackages()}
    assert path.parent in site_dirs
    assert path.read_text() == "import sio_backend._bootstrap\n"


def test_interpreter_start_installs_the_hook_without_importing_nova_or_eventlet(tmp_path):
    proc = run_python(
        textwrap.dedent(
            """
            import json, sys
            watched = ("sio_backend", "nova", "eventlet", "oslo_config")
            print(json.dumps({
                "hook": [type(f).__name__ for f in sys.meta_path].count("NovaHookFinder"),
                "loaded": sorted(m for m in sys.modules if m.split(".")[0] in watched),
            }))
            """
        ),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout) == {
        "hook": 1,
        "loaded": ["sio_backend", "sio_backend._bootstrap"],
    }


def test_disable_variable_keeps_the_pth_inert(tmp_path):
    proc = run_python(
        "import sys; print([type(f).__name__ for f in sys.meta_path])",
        cwd=tmp_path,
        disable_bootstrap=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "NovaHookFinder" not in proc.stdout


# --- nova-compute start-up -----------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "disable_bootstrap"),
    [("nova-compute", False), ("nova-compute-sio", True)],
    ids=["pth", "wrapper-without-pth"],
)
def test_nova_compute_start_accepts_images_type_sio(tmp_path, mode, disable_bootstrap):
    proc = start_nova_compute(tmp_path, "sio", mode=mode, disable_bootstrap=disable_bootstrap)
    assert started(proc) == {
        "images_type": "sio",
        "rest_server_ip": "192.0.2.10",
        "eventlet_patched": False,
        "eventlet_loaded": False,
        "libvirt_imagebackend_loaded": False,
        "sio_imagebackend_loaded": False,
    }
    # log_opt_values read and logged the value: the call that crashes an unpatched nova.
    assert "libvirt.images_type            = sio" in proc.stderr


def test_nova_compute_start_rejects_images_type_sio_without_the_hook(tmp_path):
    """Negative control: the same start-up with the .pth inert fails in nova's validation."""
    proc = start_nova_compute(tmp_path, "sio", disable_bootstrap=True)
    assert proc.returncode != 0
    assert "ConfigFileValueError" in proc.stderr
    assert "but found 'sio'" in proc.stderr


@pytest.mark.parametrize("images_type", ["rbd", "qcow2"])
def test_nova_compute_start_with_other_images_types_never_loads_sio_code(tmp_path, images_type):
    result = started(start_nova_compute(tmp_path, images_type))
    assert result["images_type"] == images_type
    assert result["sio_imagebackend_loaded"] is False


def test_unsupported_nova_version_stops_nova_compute_with_our_reason(tmp_path):
    proc = start_nova_compute(tmp_path, "sio", fake_nova_version="35.0.0")
    assert proc.returncode != 0
    assert "ConfigFileValueError" in proc.stderr
    assert (
        "images_type=sio is disabled: nova 35.0.0 is installed but sio_backend "
        "supports nova 34.x only" in proc.stderr
    )


def test_unsupported_nova_version_leaves_other_images_types_alone(tmp_path):
    proc = start_nova_compute(tmp_path, "rbd", fake_nova_version="35.0.0")
    assert started(proc)["images_type"] == "rbd"
    assert "nova 35.0.0 is installed but sio_backend supports nova 34.x only" in proc.stderr


# --- the patched nova in this (pytest) process -------------------------------------


@pytest.fixture
def imagebackend():
    assert any(isinstance(f, _bootstrap.NovaHookFinder) for f in sys.meta_path), (
        f"{PTH_NAME} is not active in this interpreter; reinstall sio_backend "
        "(pip install -e . or the wheel) so the .pth file lands in site-packages"
    )
    from nova.virt.libvirt import imagebackend

    return imagebackend


@pytest.fixture
def images_type_opt():
    import nova.conf.libvirt

    return nova_compat._images_type_opt(nova.conf.libvirt)


def test_backend_sio_is_the_scaleio_image_class(imagebackend):
    from sio_backend.imagebackend import ScaleIOImage

    assert imagebackend.Backend(False).backend("sio") is ScaleIOImage


def test_backend_sio_is_resolved_only_when_requested(imagebackend, monkeypatch):
    stand_in = types.ModuleType("sio_backend.imagebackend")

    class ScaleIOImage:
        SUPPORTS_LUKS = False

        def __init__(self, instance=None, disk_name=None, path=None, disk_info_mapping=None):
            self.disk_name = disk_name

    stand_in.ScaleIOImage = ScaleIOImage
    monkeypatch.setitem(sys.modules, "sio_backend.imagebackend", stand_in)
    backend = imagebackend.Backend(False)

    assert backend.backend("sio") is ScaleIOImage
    assert backend.by_name(None, "disk.local", image_type="sio").disk_name == "disk.local"
    # nova's LibvirtImageBackendFixture reads the dict entry directly.
    assert backend.BACKEND["sio"].SUPPORTS_LUKS is False


def test_backend_survives_a_broken_image_module_until_sio_is_requested(imagebackend, monkeypatch):
    monkeypatch.setitem(sys.modules, "sio_backend.imagebackend", None)
    backend = imagebackend.Backend(True)

    assert backend.backend("qcow2") is imagebackend.Qcow2
    with pytest.raises(ImportError, match=r"images_type=sio needs .*ScaleIOImage, which failed"):
        backend.backend("sio")


@pytest.mark.parametrize("use_cow", [False, True])
def test_backend_other_images_types_are_unchanged(imagebackend, use_cow):
    expected = {
        "raw": imagebackend.Flat,
        "flat": imagebackend.Flat,
        "qcow2": imagebackend.Qcow2,
        "lvm": imagebackend.Lvm,
        "rbd": imagebackend.Rbd,
        "ploop": imagebackend.Ploop,
        "default": imagebackend.Qcow2 if use_cow else imagebackend.Flat,
    }
    backend = imagebackend.Backend(use_cow)

    assert {name: backend.backend(name) for name in NOVA_NAMES} == expected
    assert set(backend.BACKEND) == {*NOVA_NAMES, "sio"}


def test_images_type_choices_keep_nova_values_and_add_sio(images_type_opt):
    assert list(images_type_opt.type.choices) == [*NOVA_NAMES, "sio"]
    assert images_type_opt.type("sio") == "sio"
    with pytest.raises(ValueError, match="Valid values are"):
        images_type_opt.type("sios")


def test_patches_are_idempotent(imagebackend, images_type_opt):
    import nova.conf

    backend_init = imagebackend.Backend.__init__
    choices = dict(images_type_opt.type.choices)

    nova_compat.patch_nova_conf(nova.conf)
    nova_compat.patch_imagebackend(imagebackend)

    assert imagebackend.Backend.__init__ is backend_init
    assert dict(images_type_opt.type.choices) == choices
    assert nova.conf.CONF.scaleio.rest_request_timeout == 60


# --- refusing to patch a nova that changed ------------------------------------------


@pytest.mark.parametrize("version", ["34.0.0", "34.2.1.dev12"])
def test_version_check_accepts_nova_34(monkeypatch, version):
    monkeypatch.setattr(nova_compat, "nova_version", lambda: version)
    nova_compat.check_nova_version()


@pytest.mark.parametrize("version", ["35.0.0", "33.1.0", "2026.1"])
def test_version_check_refuses_other_nova_releases(monkeypatch, version):
    monkeypatch.setattr(nova_compat, "nova_version", lambda: version)
    with pytest.raises(nova_compat.NovaCompatError, match=rf"nova {version} is installed .* 34\.x"):
        nova_compat.check_nova_version()


def test_version_check_refuses_when_nova_metadata_is_missing(monkeypatch):
    def missing() -> str:
        raise importlib.metadata.PackageNotFoundError("nova")

    monkeypatch.setattr(nova_compat, "nova_version", missing)
    with pytest.raises(nova_compat.NovaCompatError, match="cannot tell which nova"):
        nova_compat.check_nova_version()


def fresh_backend_module() -> types.ModuleType:
    """A stand-in imagebackend module with nova 34's Backend shape, never patched."""
    module = types.ModuleType("stand_in_imagebackend")

    class Backend:
        def __init__(self, use_cow):
            self.BACKEND = {"raw": object}

        def backend(self, image_type=None):
            return self.BACKEND[image_type]

    module.Backend = Backend
    return module


@pytest.fixture
def guarded_opt(images_type_opt, monkeypatch):
    """The real images_type option, restored after the test refused it."""
    monkeypatch.setattr(images_type_opt, "type", images_type_opt.type)
    return images_type_opt


def assert_refused(opt, caplog, reason: str) -> None:
    assert reason in caplog.text
    with pytest.raises(ValueError, match="images_type=sio is disabled: .*" + re.escape(reason)):
        opt.type("sio")
    assert opt.type("rbd") == "rbd"


def test_wrong_version_refuses_the_backend_patch_and_images_type_sio(
    guarded_opt, monkeypatch, caplog
):
    monkeypatch.setattr(nova_compat, "nova_version", lambda: "35.0.0")
    module = fresh_backend_module()

    nova_compat.patch_imagebackend(module)

    assert "sio" not in module.Backend(False).BACKEND
    assert_refused(guarded_opt, caplog, "nova 35.0.0 is installed")


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("no_backend", "nova.virt.libvirt.imagebackend.Backend is missing"),
        ("no_backend_method", "nova.virt.libvirt.imagebackend.Backend.backend is missing"),
        ("no_dict", "Backend() no longer sets the BACKEND dict"),
        ("new_signature", "Backend(use_cow) failed"),
    ],
)
def test_changed_backend_internals_refuse_images_type_sio(guarded_opt, caplog, breakage, reason):
    module = fresh_backend_module()
    if breakage == "no_backend":
        del module.Backend
    elif breakage == "no_backend_method":
        del module.Backend.backend
    elif breakage == "no_dict":
        module.Backend.__init__ = lambda self, use_cow: None
    else:
        module.Backend.__init__ = lambda self, use_cow, host: None

    nova_compat.patch_imagebackend(module)

    assert_refused(guarded_opt, caplog, reason)


def test_changed_conf_internals_are_reported(caplog, monkeypatch):
    registered = []
    monkeypatch.setattr(nova_compat.sio_conf, "register_opts", registered.append)
    conf_package = types.ModuleType("nova.conf")
    conf_package.libvirt = types.ModuleType("nova.conf.libvirt")
    conf_package.CONF = object()

    nova_compat.patch_nova_conf(conf_package)

    assert "nova.conf.libvirt.libvirt_imagebackend_opts is missing" in caplog.text
    assert registered == []


# --- compute_driver = sio_libvirt.SioLibvirtDriver ----------------------------------


@pytest.fixture
def fresh_alias():
    """Forget the alias module so each test imports it through the finder."""
    import nova.virt

    def forget() -> None:
        sys.modules.pop("nova.virt.sio_libvirt", None)
        vars(nova.virt).pop("sio_libvirt", None)

    forget()
    yield
    forget()


def test_alias_module_is_the_driver_module(fresh_alias, monkeypatch):
    from nova.virt import driver

    stand_in = types.ModuleType("sio_backend.driver")

    class SioLibvirtDriver(driver.ComputeDriver):
        pass

    stand_in.SioLibvirtDriver = SioLibvirtDriver
    monkeypatch.setitem(sys.modules, "sio_backend.driver", stand_in)

    import nova.virt.sio_libvirt

    assert nova.virt.sio_libvirt is stand_in
    loaded = driver.load_compute_driver(None, "sio_libvirt.SioLibvirtDriver")
    assert type(loaded) is SioLibvirtDriver


def test_alias_loads_the_real_driver(fresh_alias):
    try:
        import sio_backend.driver
    except ModuleNotFoundError as exc:
        if exc.name != "sio_backend.driver":
            raise
        pytest.skip("sio_backend/driver.py is not written yet (issue 5)")
    import nova.virt.sio_libvirt
    from nova.virt.libvirt.driver import LibvirtDriver

    assert nova.virt.sio_libvirt is sio_backend.driver
    assert issubclass(nova.virt.sio_libvirt.SioLibvirtDriver, LibvirtDriver)
