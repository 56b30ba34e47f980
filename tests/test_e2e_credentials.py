"""End to end, credentials: the CLI as a subprocess against the emulator (TRTC and STS
on one port) — a tccli-format profile, a role whose credentials expire several
times during an apply and a ``run`` loop (renewed, no call failing, no secret in
any output at debug level), web identity, an expired token, and no credentials."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sts.v20180813 import models as sts_models
from tencentcloud.sts.v20180813 import sts_client

from reconciler.credentials import SOURCES
from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY
from tests.credentials_support import (
    OIDC_TOKEN,
    ROLE,
    RecordingProxy,
    env_without_keys,
    leaked,
    write_tccli_credential,
)
from tests.support import (
    STOP,
    EmulatorFactory,
    EmulatorProcess,
    cli_env,
    manifest,
    no_traceback,
    outcomes,
    reconciler,
    seed,
    setup_tasks,
    start,
    stop_calls,
    wait_for,
)

PROFILE_TOKEN = "profile-session-token-0123456789"
ERROR_LINE = re.compile(r"^(Error: |reconciler apply: error: )")


def renewals(stderr: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "credentials renewed"]


@pytest.fixture
def proxy(emulators: EmulatorFactory) -> Iterator[tuple[EmulatorProcess, RecordingProxy]]:
    """An emulator whose STS issues two-second credentials, behind a recording proxy."""
    emulator = emulators("--role", ROLE, "--credential-ttl", "2")
    recording = RecordingProxy(emulator.url)
    yield emulator, recording
    recording.close()


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_profile_written_the_way_tccli_writes_it(
    tmp_path: Path, emulators: EmulatorFactory, how: str
) -> None:
    emulator = emulators("--token", PROFILE_TOKEN)
    addresses = setup_tasks(tmp_path, emulator, "p", 3)
    fields = {
        "secretId": DEFAULT_SECRET_ID,
        "secretKey": DEFAULT_SECRET_KEY,
        "token": PROFILE_TOKEN,
    }
    env = env_without_keys(tmp_path, emulator)
    if how == "flag":
        write_tccli_credential(tmp_path / "home" / ".tccli", "ci", fields)
        args = ["--profile", "ci"]
    else:
        write_tccli_credential(tmp_path / "shared", "ops", fields)
        env.update(
            TENCENTCLOUD_PROFILE="ops", TENCENTCLOUD_SHARED_CREDENTIALS_DIR=str(tmp_path / "shared")
        )
        args = []
    result = reconciler(
        "apply", "--auto-approve", "--log-level", "debug", *args, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert outcomes(env, tmp_path) == dict.fromkeys(addresses, "stopped")
    assert emulator.stats()["callers"][DEFAULT_SECRET_ID]
    state = (tmp_path / "state.db").read_bytes()
    assert leaked([DEFAULT_SECRET_KEY, PROFILE_TOKEN], result.stdout, result.stderr, state) == []


def test_a_role_renewed_several_times_during_one_apply(
    tmp_path: Path, proxy: tuple[EmulatorProcess, RecordingProxy]
) -> None:
    emulator, recording = proxy
    addresses = setup_tasks(tmp_path, emulator, "r", 12)
    env = cli_env(tmp_path, emulator, RECONCILER_ENDPOINT=recording.url)
    result = reconciler(
        "apply", "--auto-approve", "--assume-role", ROLE, "--rate", "3", "--parallelism", "3",
        "--log-level", "debug", "--log-format", "json",
        env=env, cwd=tmp_path, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert outcomes(env, tmp_path) == dict.fromkeys(addresses, "stopped")
    assert len(renewals(result.stderr)) >= 2, result.stderr
    stats = emulator.stats()
    assert stats["errors"] == {} and stats["calls"][STOP] == 12
    issued = emulator.credentials()
    assert len(issued) >= 3 and {c["roleSessionName"] for c in issued} == {"trtc-ingest-reconciler"}
    used = {caller for caller in stats["callers"] if caller != DEFAULT_SECRET_ID}
    assert len(used) >= 2  # TRTC calls were signed with several of the renewed credentials
    assert len(recording.secrets) == 2 * len(issued)
    secrets = [*recording.secrets, DEFAULT_SECRET_KEY]
    state = (tmp_path / "state.db").read_bytes()
    assert leaked(secrets, result.stdout, result.stderr, state) == []


def test_a_run_loop_renews_across_cycles(
    tmp_path: Path, proxy: tuple[EmulatorProcess, RecordingProxy]
) -> None:
    emulator, recording = proxy
    env = cli_env(tmp_path, emulator, RECONCILER_ENDPOINT=recording.url)
    manifests = tmp_path / "manifests"
    manifest(manifests / "wave-0.yaml", ["w0"])
    emulator.add_tasks(seed(["w0"]))
    proc = start(
        "run", "--interval", "1s", "--assume-role", ROLE,
        "--metrics-file", str(tmp_path / "m.prom"), "--log-level", "debug", "--log-format", "json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        for wave in range(1, 6):  # a new task every second, for five seconds
            time.sleep(1.0)
            emulator.add_tasks(seed([f"w{wave}"]))
            manifest(manifests / f"wave-{wave}.yaml", [f"w{wave}"])
        wait_for(lambda: stop_calls(emulator) >= 6, what="every wave stopped", timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert set(outcomes(env, tmp_path).values()) == {"stopped"}
    assert len(outcomes(env, tmp_path)) == 6
    assert emulator.stats()["errors"] == {}
    assert len(renewals(stderr)) >= 2, stderr
    assert '"cycle finished"' in stderr and '"cycle failed"' not in stderr
    secrets = [*recording.secrets, DEFAULT_SECRET_KEY]
    files = [(tmp_path / "state.db").read_bytes(), (tmp_path / "m.prom").read_bytes()]
    assert leaked(secrets, stdout, stderr, *files) == []


@pytest.mark.parametrize("how", ["flags", "terraform environment"])
def test_web_identity_with_no_stored_key(
    tmp_path: Path, emulators: EmulatorFactory, how: str
) -> None:
    emulator = emulators(
        "--role",
        ROLE,
        "--web-identity-provider",
        "github-actions",
        "--web-identity-token",
        OIDC_TOKEN,
    )
    addresses = setup_tasks(tmp_path, emulator, "w", 2)
    env = env_without_keys(tmp_path, emulator)
    token_file = tmp_path / "oidc" / "token"
    token_file.parent.mkdir()
    if how == "flags":
        token_file.write_text(OIDC_TOKEN + "\n")
        args = ["--assume-role", ROLE, "--web-identity-token-file", str(token_file)]
        args += ["--web-identity-provider", "github-actions", "--assume-role-session-name", "ci-1"]
    else:
        token_file.write_text(json.dumps({"web_identity_token": OIDC_TOKEN}))
        env.update(
            TENCENTCLOUD_ASSUME_ROLE_ARN=ROLE,
            TENCENTCLOUD_ASSUME_ROLE_SESSION_NAME="ci-1",
            TENCENTCLOUD_ASSUME_ROLE_WEB_IDENTITY_TOKEN_FILE=str(token_file),
            TENCENTCLOUD_ASSUME_ROLE_PROVIDER_ID="github-actions",
        )
        args = []
    result = reconciler(
        "apply", "--auto-approve", "--log-level", "debug", *args, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert outcomes(env, tmp_path) == dict.fromkeys(addresses, "stopped")
    assert [c["roleSessionName"] for c in emulator.credentials()] == ["ci-1"]
    assert DEFAULT_SECRET_ID not in emulator.stats()["callers"]  # no key was used
    assert OIDC_TOKEN not in result.stdout + result.stderr


def temporary_credentials(emulator: EmulatorProcess) -> tuple[str, str, str]:
    """Credentials for ROLE from the emulated STS, through the official STS client."""
    host = emulator.url.removeprefix("http://")
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=host))
    client = sts_client.StsClient(
        credential.Credential(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY), "ap-guangzhou", profile
    )
    request = sts_models.AssumeRoleRequest()
    request.RoleArn, request.RoleSessionName = ROLE, "handed-over"
    answer = client.AssumeRole(request).Credentials
    return answer.TmpSecretId, answer.TmpSecretKey, answer.Token


def test_an_expired_session_token_is_refused_with_a_clear_message(
    tmp_path: Path, emulators: EmulatorFactory
) -> None:
    emulator = emulators("--role", ROLE)
    setup_tasks(tmp_path, emulator, "x", 5)
    secret_id, secret_key, token = temporary_credentials(emulator)
    assert emulator.expire_credentials() == 1
    env = cli_env(
        tmp_path,
        emulator,
        TENCENTCLOUD_SECRET_ID=secret_id,
        TENCENTCLOUD_SECRET_KEY=secret_key,
        TENCENTCLOUD_TOKEN=token,
    )
    result = reconciler("apply", "--auto-approve", "--parallelism", "1", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert no_traceback(result)
    error = [line for line in result.stderr.splitlines() if "credential problem" in line]
    assert error, result.stderr
    assert "the session token was refused: it has expired" in error[0]
    assert "AuthFailure.TokenFailure" in error[0] and "(credentials: environment)" in error[0]
    assert stop_calls(emulator) == 1  # the run stopped at once: no hammering
    assert leaked([secret_key, token], result.stdout, result.stderr) == []


def test_a_wrong_role_fails_before_any_call(tmp_path: Path, emulators: EmulatorFactory) -> None:
    emulator = emulators("--role", ROLE)
    setup_tasks(tmp_path, emulator, "n", 2)
    env = cli_env(tmp_path, emulator)
    wrong = "qcs::cam::uin/100000000001:roleName/nobody"
    result = reconciler("apply", "--auto-approve", "--assume-role", wrong, env=env, cwd=tmp_path)
    assert result.returncode == 1 and no_traceback(result)
    assert f"cannot get credentials from role {wrong}" in result.stderr
    assert "no such role" in result.stderr
    assert stop_calls(emulator) == 0


def test_no_credentials_lists_every_source(tmp_path: Path, emulator: EmulatorProcess) -> None:
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    env = env_without_keys(tmp_path, emulator)
    result = reconciler("apply", "--auto-approve", env=env, cwd=tmp_path)
    assert result.returncode == 1 and no_traceback(result)
    assert "Error: no Tencent Cloud credentials found; tried, in order:" in result.stderr
    for number, source in enumerate(SOURCES, 1):
        assert f"{number}. {source.name}: {source.how}" in result.stderr
    assert stop_calls(emulator) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--assume-role-duration", "13h"],
        ["--assume-role-duration", "1.5s"],
        ["--assume-role", ROLE, "--assume-role-session-name", "x"],
        ["--profile", "absent"],
        ["--web-identity-token-file", "token"],
    ],
)
def test_bad_credential_options_are_one_message(
    tmp_path: Path, env: dict[str, str], emulator: EmulatorProcess, args: list[str]
) -> None:
    emulator.add_tasks(seed(["a"]))
    manifest(tmp_path / "manifests" / "m.yaml", ["a"])
    result = reconciler("apply", "--auto-approve", *args, env=env, cwd=tmp_path)
    assert result.returncode == 1 and no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if ERROR_LINE.match(line)]
    assert len(errors) == 1, result.stderr
    assert stop_calls(emulator) == 0
