"""``python -m reconciler.emulator`` and ``reconciler emulator`` as subprocesses: the
announcement line, serving until SIGTERM, the credential, role and traffic flags,
and bad input as one line and exit 1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.trtc.v20190722 import trtc_client

from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, AdminClient
from tests.emulator.sdk import APP, ROLE, sdk_error, stop

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _emulator_command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "reconciler.emulator", *flags]


class Served:
    """An emulator subprocess and the JSON line it announced itself with."""

    def __init__(self, *flags: str) -> None:
        self.process = subprocess.Popen(
            _emulator_command("--port", "0", *flags),
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.line = self.process.stdout.readline()
        self.announced: dict[str, Any] = json.loads(self.line)
        self.admin = AdminClient(self.announced["url"])

    def trtc(self, secret_id: str = DEFAULT_SECRET_ID, secret_key: str = DEFAULT_SECRET_KEY) -> Any:
        endpoint = f"127.0.0.1:{self.announced['port']}"
        profile = HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=5)
        return trtc_client.TrtcClient(
            credential.Credential(secret_id, secret_key),
            "ap-singapore",
            ClientProfile(httpProfile=profile),
        )

    def terminate(self) -> tuple[str, str]:
        self.process.send_signal(signal.SIGTERM)
        return self.process.communicate(timeout=10)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for item in started:
        item.end()


def test_cli_serves_until_sigterm(tmp_path: Path, served: list[Served]) -> None:
    seed = tmp_path / "tasks.json"
    seed.write_text(
        json.dumps({"tasks": [{"sdkAppId": APP, "taskId": "f-1", "region": "ap-mumbai"}]})
    )
    port_file = tmp_path / "port"
    emulator = Served(
        "--tasks", str(seed),
        "--task", f"{APP}/t-1@ap-singapore",
        "--finished-task", f"{APP}/t-2@ap-singapore",
        "--port-file", str(port_file),
        "--fault", "internal=0",
        "--seed", "1",
    )  # fmt: skip
    served.append(emulator)
    assert DEFAULT_SECRET_KEY not in emulator.line
    port = emulator.announced["port"]
    assert emulator.announced == {
        "event": "listening",
        "url": f"http://127.0.0.1:{port}",
        "port": port,
        "secretId": DEFAULT_SECRET_ID,
        "secretIds": [DEFAULT_SECRET_ID],
        "tasks": 3,
    }
    assert port_file.read_text().strip() == str(port)
    client = emulator.trtc()
    stop(client, "t-1")
    assert sdk_error(lambda: stop(client, "t-2")).code == "FailedOperation.TaskFinished"
    settings = emulator.admin.settings()
    assert (settings["rate_limit"], settings["rate_limit_counts"]) == (20, "throttled")
    assert (settings["foreign_rate"], settings["credential_ttl"]) == (0.0, 7200)
    out, err = emulator.terminate()
    assert emulator.process.returncode == 0
    assert out == ""
    assert DEFAULT_SECRET_KEY not in err


def test_cli_credentials_roles_and_traffic_flags(tmp_path: Path, served: list[Served]) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(
        json.dumps({"credentials": [{"secretId": "AKIDfile", "secretKey": "file-key"}]})
    )
    token_file = tmp_path / "oidc-token"
    token_file.write_text("oidc-token-value\n")
    emulator = Served(
        "--secret-id", "AKIDone", "--secret-key", "key-one",
        "--secret-id", "AKIDtwo", "--secret-key", "key-two",
        "--credentials", str(credentials),
        "--role", ROLE,
        "--web-identity-provider", "ci", "--web-identity-token-file", str(token_file),
        "--credential-ttl", "60",
        "--rate-limit", "10", "--rate-limit-counts", "admitted", "--foreign-rate", "3",
        "--task", f"{APP}/t-1@ap-singapore", "--task", f"{APP}/t-2@ap-singapore",
    )  # fmt: skip
    served.append(emulator)
    assert emulator.announced["secretId"] == "AKIDone"
    assert emulator.announced["secretIds"] == ["AKIDone", "AKIDtwo", "AKIDfile"]
    for secret in ("key-one", "key-two", "file-key", "oidc-token-value"):
        assert secret not in emulator.line
    stop(emulator.trtc("AKIDtwo", "key-two"), "t-1")
    stop(emulator.trtc("AKIDfile", "file-key"), "t-2")
    default = emulator.trtc()
    assert sdk_error(lambda: stop(default, "t-1")).code == "AuthFailure.SecretIdNotFound"
    settings = emulator.admin.settings()
    assert (settings["rate_limit"], settings["rate_limit_counts"]) == (10, "admitted")
    assert (settings["foreign_rate"], settings["credential_ttl"]) == (3.0, 60)
    # Arrivals are tallied by the SecretId they claim, refused ones too.
    callers = emulator.admin.stats()["callers"]
    assert sorted(callers) == [DEFAULT_SECRET_ID, "AKIDfile", "AKIDtwo"]
    assert callers[DEFAULT_SECRET_ID]["calls"] == {"StopStreamIngest": 1}
    emulator.terminate()
    assert emulator.process.returncode == 0


def test_reconciler_emulator_help_lists_the_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    for flag in (
        "--rate-limit-counts", "--foreign-rate", "--credentials", "--role",
        "--web-identity-provider", "--web-identity-token-file", "--credential-ttl",
    ):  # fmt: skip
        assert flag in result.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--tasks", "{seed}"), "quote it"),
        (("--tasks", "{missing}"), "cannot read tasks file"),
        (("--task", "1400000001/t-1"), "SDKAPPID/TASKID@REGION"),
        (("--fault", "gremlins=0.5"), "unknown fault kind"),
        (("--fault", "internal=lots"), "not a number"),
        (("--host", "0.0.0.0"), "loopback"),
        (("--port", "many"), "invalid int value"),
        (("--secret-id", "A", "--secret-id", "B", "--secret-key", "k"), "pair up"),
        (
            ("--secret-id", "A", "--secret-key", "a", "--secret-id", "A", "--secret-key", "b"),
            "twice",
        ),
        (
            (
                "--secret-id",
                "A",
                "--secret-key",
                "a",
                "--secret-id",
                "B",
                "--secret-key",
                "b",
                "--token",
                "t",
            ),
            "--token goes with one",
        ),
        (("--credentials", "{missing}"), "cannot read credentials file"),
        (("--role", "deployer"), "not a role ARN"),
        (("--web-identity-provider", "ci"), "needs --web-identity-token"),
        (("--web-identity-token", "x"), "needs --web-identity-provider"),
        (
            ("--web-identity-provider", "ci", "--web-identity-token-file", "{missing}"),
            "cannot read web identity token file",
        ),
        (("--credential-ttl", "0"), "credential TTL"),
        (("--rate-limit-counts", "sometimes"), "invalid choice"),
        (("--foreign-rate", "-2"), "foreign rate"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_1(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    seed = tmp_path / "tasks.yaml"
    seed.write_text("tasks:\n  - {sdkAppId: 1, taskId: 12345, region: ap-singapore}\n")
    filled = [f.format(seed=seed, missing=tmp_path / "absent.yaml") for f in flags]
    result = subprocess.run(
        _emulator_command(*filled), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
