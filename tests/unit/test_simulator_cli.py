"""``sio-backend simulator``: a foreground process that prints how to reach it."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from sio_backend.cmd import main as cli


class Console:
    """A running ``sio-backend simulator`` whose output is read without blocking."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sio_backend.cmd.main", "simulator", *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def banner(self, timeout: float = 30) -> dict[str, str]:
        """The 'key: value' lines printed before the simulator serves."""
        banner: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while "fault injection" not in banner:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no complete banner within {timeout}s: {banner}"
            key, _, value = self.lines.get(timeout=remaining).partition(": ")
            banner[key] = value
        return banner

    def stop(self, signum: int, timeout: float = 20) -> tuple[int, list[str]]:
        self.process.send_signal(signum)
        status = self.process.wait(timeout=timeout)
        threading.Event().wait(0.1)  # let the pump drain the pipe
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get_nowait())
        return status, rest

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_runs_in_the_foreground_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    state_dir = tmp_path / "state"
    console = Console(
        "--port", "0", "--state-dir", str(state_dir), "--tls", "--sdc", "host1", "--sdc", "host2"
    )
    try:
        banner = console.banner()
        assert banner["url"].startswith("https://127.0.0.1:")
        assert (banner["username"], banner["password"]) == ("admin", "Scaleio123")
        assert len(banner["system id"]) == 16
        ca_path = banner["ca certificate"]
        assert Path(ca_path).is_file()
        assert f"by-id dir={state_dir}/sdc/host1/by-id" in banner["sdc host1"]
        assert (state_dir / "sdc" / "host2" / "by-id").is_dir()

        response = requests.get(
            banner["url"] + "/api/login", auth=("admin", "Scaleio123"), verify=ca_path, timeout=10
        )
        assert response.status_code == 200
        sdcs = requests.get(
            banner["url"] + "/api/types/Sdc/instances",
            auth=("", response.json()),
            verify=ca_path,
            timeout=10,
        ).json()
        assert [s["name"] for s in sdcs] == ["host1", "host2"]

        status, rest = console.stop(stop_signal)
        assert (status, rest) == (0, ["simulator stopped"])
    finally:
        console.kill()


def test_api_version_chooses_the_generation_served(tmp_path: Path) -> None:
    console = Console("--state-dir", str(tmp_path / "state"), "--api-version", "5.0")
    try:
        banner = console.banner()
        assert banner["api version"] == "5.0"
        login = requests.post(
            banner["url"] + "/rest/auth/login",
            json={"username": "admin", "password": "Scaleio123"},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        metrics = requests.post(
            banner["url"] + "/dtapi/rest/v1/metrics/query",
            json={"resource_type": "storage_pool", "metrics": ["physical_total"]},
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            timeout=10,
        )
        assert len(metrics.json()["resources"]) == 1
        assert console.stop(signal.SIGTERM)[0] == 0
    finally:
        console.kill()


def test_command_line_needs_a_subcommand_and_a_state_dir(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as no_command:
        cli.main([])
    assert no_command.value.code == 2
    with pytest.raises(SystemExit) as no_state_dir:
        cli.main(["simulator", "--tls"])
    assert no_state_dir.value.code == 2
    assert "--state-dir" in capsys.readouterr().err


def test_every_command_module_registers_a_handler() -> None:
    arguments = cli.build_parser().parse_args(["simulator", "--state-dir", "/nonexistent"])
    assert arguments.handler.__module__ == "sio_backend.cmd.simulator"
    assert (arguments.port, arguments.api_version, arguments.sdc) == (0, "3.5", [])


def test_an_api_version_of_no_generation_is_refused_by_name(tmp_path, capsys):
    assert cli.main(["simulator", "--state-dir", str(tmp_path), "--api-version", "2.0"]) == 2
    err = capsys.readouterr().err
    assert "sio-backend simulator:" in err
    assert "3.x, 4.x, 5.x" in err
