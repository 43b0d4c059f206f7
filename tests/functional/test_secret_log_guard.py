"""The guard that fails any functional test logging a password or token."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

from sio_fixtures.generation import tokens_per_login
from sio_fixtures.secret_log_guard import SecretLogGuard, leaked, spellings

from sio_backend.gateway import GatewayClient
from sio_backend.simulator import Simulator


def test_the_guard_sees_every_level_of_the_http_stack(
    simulator: Simulator, gateway_client: GatewayClient, secret_log_guard: SecretLogGuard
) -> None:
    gateway_client.api_version()

    lines = secret_log_guard.lines
    assert [line for line in lines if line.startswith("urllib3.connectionpool DEBUG")]
    assert "sio_backend.gateway.transport DEBUG GET /api/version -> 200" in "\n".join(lines)
    token, *others = simulator.sessions.issued_tokens()  # legacy, or OAuth's access token
    assert len(others) == tokens_per_login() - 1
    secrets = secret_log_guard.secrets()
    assert spellings(simulator.username, simulator.password) <= secrets
    assert spellings(simulator.username, token) <= secrets
    assert secret_log_guard.leaks() == []


def test_leaked_passwords_tokens_and_auth_headers_are_found(
    simulator: Simulator, gateway_client: GatewayClient
) -> None:
    gateway_client.api_version()
    token, *others = simulator.sessions.issued_tokens()  # legacy, or OAuth's access token
    assert len(others) == tokens_per_login() - 1
    guard = SecretLogGuard()
    guard.watch(simulator)

    def record(level: int, message: str, *args: object, exc_info=None) -> None:
        # Handed to the guard directly: logged, it would fail this test too.
        guard.handle(logging.LogRecord("selftest", level, __file__, 1, message, args, exc_info))

    record(logging.DEBUG, "login with %s", simulator.password)
    record(logging.INFO, "token %s", token)
    record(logging.WARNING, "headers %s", {"Authorization": spellings("admin", token).pop()})
    record(logging.ERROR, "nothing secret here")
    try:
        raise RuntimeError(f"refused {simulator.password}")
    except RuntimeError:
        record(logging.ERROR, "a traceback", exc_info=sys.exc_info())

    leaks = guard.leaks()
    assert len(leaks) == 4
    assert leaks[0] == "selftest DEBUG login with <secret>"
    assert "Traceback" in leaks[3]
    assert not [line for line in leaks if simulator.password in line or token in line]


def test_leaked_only_reports_lines_with_secrets() -> None:
    secrets = spellings("admin", "Scaleio123")
    basic = next(s for s in secrets if s.startswith("YWRtaW46"))
    lines = ["x Scaleio1234 y", f"Authorization: Basic {basic}", "Scaleio12", ""]
    assert leaked(lines, secrets) == ["x <secret>4 y", "Authorization: Basic <secret>"]
    assert leaked(lines, [""]) == []


GUARDED_TEST = textwrap.dedent(
    """
    import logging

    from sio_fixtures.secret_log_guard import guard_every_test  # noqa: F401


    def test_leaks(secret_log_guard):
        secret_log_guard.add_secret("hunter2-not-for-logs")
        logging.getLogger("leaky.module").debug("password=%s", "hunter2-not-for-logs")


    def test_clean(secret_log_guard):
        secret_log_guard.add_secret("hunter2-not-for-logs")
        logging.getLogger("tidy.module").debug("password=***")
    """
)


def test_a_test_that_logs_a_secret_fails_by_name(tmp_path: Path) -> None:
    (tmp_path / "test_guarded.py").write_text(GUARDED_TEST)
    # no:logging: pytest's own report of captured logs would show the secret.
    plugins = ["-p", "no:cacheprovider", "-p", "no:logging"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugins, "test_guarded.py"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).parent.parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "2 passed, 1 error" in output  # test_leaks passes, then its teardown fails
    assert "test_guarded.py::test_leaks logged a password or token in 1 record(s)" in output
    assert "leaky.module DEBUG password=<secret>" in output
    assert "hunter2-not-for-logs" not in output
