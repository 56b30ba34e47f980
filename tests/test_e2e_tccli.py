"""End to end with the real tccli: ``tccli configure set … --profile NAME`` writes the
credential file, ``reconciler apply --profile NAME`` uses it against the emulator.

tccli is installed from PyPI once (``pip install --no-deps --target``, with the few
modules its start-up imports) into the pytest cache, so later sessions reuse it; it
is not a dev dependency because it pulls the whole ``tencentcloud-sdk-python``
(hundreds of megabytes). Skipped, saying why, when PyPI cannot be reached; the
format itself is also tested without tccli (``write_tccli_credential``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY
from tests.credentials_support import ROLE, env_without_keys
from tests.support import (
    EmulatorFactory,
    EmulatorProcess,
    install_or_skip,
    outcomes,
    reconciler,
    setup_tasks,
)

TCCLI_VERSION = "3.1.189.1"
#: tccli, and what its start-up imports (its plugins import qcloud_cos and the CVM client).
PACKAGES = (
    f"tccli=={TCCLI_VERSION}",
    "six",
    "jmespath",
    "cos-python-sdk-v5",
    "xmltodict",
    "crcmod",
    "tencentcloud-sdk-python-common",
    "tencentcloud-sdk-python-cvm",
)
TOKEN = "tccli-session-token-0123456789"
KEYS = ("secretId", DEFAULT_SECRET_ID, "secretKey", DEFAULT_SECRET_KEY)


@pytest.fixture(scope="session")
def tccli_path(request: pytest.FixtureRequest) -> Path:
    """A directory to put on PYTHONPATH to run ``python -m tccli.main``."""
    cache = request.config.cache
    assert cache is not None
    target = cache.mkdir(f"tccli-{TCCLI_VERSION}")
    if (target / "tccli" / "__init__.py").exists():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--target", str(staging), *PACKAGES]
    what = f"pip install tccli=={TCCLI_VERSION}"
    install_or_skip(command, what=what, registry="PyPI", timeout=600)
    shutil.rmtree(target)
    os.replace(staging, target)
    return target


def tccli(path: Path, home: Path, *args: str) -> None:
    env = {"HOME": str(home), "PYTHONPATH": str(path), "PATH": os.environ.get("PATH", "")}
    command = [sys.executable, "-m", "tccli.main", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rror" not in result.stdout + result.stderr, result.stdout + result.stderr


def applied_without_keys(
    tmp_path: Path, emulator: EmulatorProcess, addresses: list[str], *args: str
) -> None:
    """``apply`` with no key in the environment stops every task in ``addresses``."""
    env = env_without_keys(tmp_path, emulator)
    result = reconciler("apply", "--auto-approve", *args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert outcomes(env, tmp_path) == dict.fromkeys(addresses, "stopped")


@pytest.mark.timeout(900)
def test_a_profile_tccli_configure_wrote(
    tccli_path: Path, tmp_path: Path, emulators: EmulatorFactory
) -> None:
    emulator = emulators("--token", TOKEN)
    addresses = setup_tasks(tmp_path, emulator, "tc", 3)
    home = tmp_path / "home"
    tccli(tccli_path, home, "configure", "set", *KEYS, "token", TOKEN, "--profile", "ci")
    written = json.loads((home / ".tccli" / "ci.credential").read_text())
    assert written == {
        "secretId": DEFAULT_SECRET_ID,
        "secretKey": DEFAULT_SECRET_KEY,
        "token": TOKEN,
    }
    applied_without_keys(tmp_path, emulator, addresses, "--profile", "ci")


@pytest.mark.timeout(900)
def test_a_role_tccli_configure_wrote_into_the_default_profile(
    tccli_path: Path, tmp_path: Path, emulators: EmulatorFactory
) -> None:
    emulator = emulators("--role", ROLE)
    addresses = setup_tasks(tmp_path, emulator, "tr", 2)
    tccli(tccli_path, tmp_path / "home", "configure", "set", *KEYS)
    role = ("role-arn", ROLE, "role-session-name", "tccli-s")
    tccli(tccli_path, tmp_path / "home", "configure", "set", *role)
    applied_without_keys(tmp_path, emulator, addresses)
    assert [c["roleSessionName"] for c in emulator.credentials()] == ["tccli-s"]
