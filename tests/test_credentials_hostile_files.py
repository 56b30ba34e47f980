"""Credential files a hostile environment hands the chain: a FIFO nobody writes, a
device, a nesting bomb, non-finite expiries, keys no request could carry. Each is one
``CloudSetupError`` naming the file, at once, never a hang or a traceback, and never
with the secret in it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from reconciler.credentials import CredentialOptions, resolve
from reconciler.errors import CloudSetupError
from reconciler.trtc import Endpoint
from tests.credentials_support import ROLE

SECRET = "topsecretKEY42"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home" / ".tccli").mkdir(parents=True)
    return tmp_path / "home"


def resolve_profile(home: Path) -> None:
    resolve(CredentialOptions(profile="ci"), environ={"HOME": str(home)}, endpoint=Endpoint())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 60_000, "is not JSON"),
        (f'{{"secretId": "AKIDx", "secretKey": "{SECRET}", "expiresAt": 1e400}}', "expiresAt"),
        (
            f'{{"secretId": "AKIDx", "secretKey": "{SECRET}", "type": "sso", "expiresAt": NaN}}',
            "expiresAt",
        ),
        (f'{{"secretId": "AKIDx", "secretKey": "{SECRET}", "expiresAt": -1e300}}', "expiresAt"),
        (f'{{"secretId": "AKIDx", "secretKey": "{SECRET}\\ud800"}}', "SecretKey"),
        (f'{{"secretId": "AKID\\u0000x", "secretKey": "{SECRET}"}}', "SecretId"),
        (f'{{"secretId": "AKIDx", "secretKey": "{SECRET}é"}}', "SecretKey"),
        (f'{{"secretId": "AKIDx", "secretKey": "{SECRET}", "token": "t\\u2028k"}}', "token"),
    ],
)
def test_malformed_profiles_are_one_message(home: Path, content: str, message: str) -> None:
    (home / ".tccli" / "ci.credential").write_text(content)
    with pytest.raises(CloudSetupError, match=re.escape(message)) as caught:
        resolve_profile(home)
    assert SECRET not in str(caught.value)


def test_a_profile_with_a_byte_order_mark_is_read(home: Path) -> None:
    text = f'\ufeff{{"secretId": "AKIDx", "secretKey": "{SECRET}"}}'
    (home / ".tccli" / "ci.credential").write_text(text, encoding="utf-8")
    resolve_profile(home)


@pytest.mark.timeout(10)
def test_a_fifo_or_a_device_as_a_profile_is_refused_at_once(home: Path) -> None:
    path = home / ".tccli" / "ci.credential"
    os.mkfifo(path)  # no writer will ever open it: reading it would wait forever
    with pytest.raises(CloudSetupError, match="not a regular file"):
        resolve_profile(home)
    path.unlink()
    path.symlink_to("/dev/zero")
    with pytest.raises(CloudSetupError, match="not a regular file"):
        resolve_profile(home)


@pytest.mark.timeout(10)
def test_a_fifo_as_the_web_identity_token_file_is_refused_at_once(
    tmp_path: Path, home: Path
) -> None:
    token_file = tmp_path / "token"
    os.mkfifo(token_file)
    options = CredentialOptions(assume_role=ROLE, web_identity_token_file=str(token_file))
    with pytest.raises(CloudSetupError, match="not a regular file"):
        resolve(options, environ={"HOME": str(home)}, endpoint=Endpoint())


@pytest.mark.timeout(10)
def test_an_sdk_profile_file_that_is_a_fifo_or_not_ini_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home))  # the SDK reads ~ from the process's environment
    sdk = home / ".tencentcloud"
    sdk.mkdir()
    os.mkfifo(sdk / "credentials")
    with pytest.raises(CloudSetupError, match="not a regular file"):
        resolve(CredentialOptions(), environ={"HOME": str(home)}, endpoint=Endpoint())
    (sdk / "credentials").unlink()
    (sdk / "credentials").write_bytes(b"secret_key = " + SECRET.encode() + b"\n\xff\xfe")
    with pytest.raises(CloudSetupError, match="not an INI file") as caught:
        resolve(CredentialOptions(), environ={"HOME": str(home)}, endpoint=Endpoint())
    assert SECRET not in str(caught.value)
