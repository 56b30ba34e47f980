"""The credential chain in-process: its order, tccli's profile files, roles and web
identity through STS (the emulator, in this process, over real HTTP), the STS
endpoint rules, and one message when nothing is found."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.credentials import SOURCES, CredentialOptions, CredentialSource, resolve
from reconciler.credentials.sts import sts_endpoint
from reconciler.emulator import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Emulator, EmulatorConfig
from reconciler.emulator import WebIdentity as EmulatedWebIdentity
from reconciler.errors import CloudSetupError
from reconciler.trtc import Endpoint, parse_endpoint
from tests.credentials_support import OIDC_TOKEN, ROLE, write_tccli_credential
from tests.fakes import FakeClock
from tests.support import REPO

KEYS = {"TENCENTCLOUD_SECRET_ID": "AKIDenv", "TENCENTCLOUD_SECRET_KEY": "env-secret-key"}


@pytest.fixture(scope="module")
def account() -> Iterator[Emulator]:
    config = EmulatorConfig(
        roles=(ROLE,), web_identity=EmulatedWebIdentity("github-actions", (OIDC_TOKEN,))
    )
    with Emulator(config) as emulator:
        yield emulator


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def found(
    environ: dict[str, str],
    options: CredentialOptions | None = None,
    *,
    endpoint: Endpoint | None = None,
) -> CredentialSource:
    return resolve(options or CredentialOptions(), environ=environ, endpoint=endpoint or Endpoint())


def info(source: CredentialSource) -> tuple[str, str, str | None]:
    return source.credential.get_credential_info()


def test_environment_credentials_with_either_token_name(home: Path) -> None:
    for name in ("TENCENTCLOUD_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN"):
        source = found({"HOME": str(home), **KEYS, name: "tok123"})
        assert source.origin == "environment"
        assert info(source) == ("AKIDenv", "env-secret-key", "tok123")
        assert set(source.secret_values()) == {"env-secret-key", "tok123"}
        assert source.identity == source.secret_id == "AKIDenv"


def test_a_profile_as_tccli_writes_it(home: Path) -> None:
    write_tccli_credential(
        home / ".tccli", "ci", {"secretId": "AKIDci", "secretKey": "ci-key", "token": "ci-tok"}
    )
    source = found({"HOME": str(home)}, CredentialOptions(profile="ci"))
    assert info(source) == ("AKIDci", "ci-key", "ci-tok")
    assert source.origin == "profile 'ci' (~/.tccli/ci.credential)"
    assert source.identity == "AKIDci"


def test_order_flag_profile_then_environment_then_environment_profile(home: Path) -> None:
    for name in ("default", "ci", "ops"):
        write_tccli_credential(
            home / ".tccli", name, {"secretId": f"AKID{name}", "secretKey": f"{name}-key"}
        )
    env = {"HOME": str(home)}
    assert found(env).identity == "AKIDdefault"
    assert found({**env, "TENCENTCLOUD_PROFILE": "ops"}).identity == "AKIDops"
    assert found({**env, "TCCLI_PROFILE": "ops"}).identity == "AKIDops"
    assert found({**env, "TENCENTCLOUD_PROFILE": "ops", **KEYS}).identity == "AKIDenv"
    flagged = CredentialOptions(profile="ci")
    assert found({**env, "TENCENTCLOUD_PROFILE": "ops", **KEYS}, flagged).identity == "AKIDci"


def test_shared_credentials_dir(tmp_path: Path, home: Path) -> None:
    write_tccli_credential(tmp_path / "creds", "ci", {"secretId": "AKIDx", "secretKey": "x-key"})
    env = {"HOME": str(home), "TENCENTCLOUD_SHARED_CREDENTIALS_DIR": str(tmp_path / "creds")}
    assert found(env, CredentialOptions(profile="ci")).identity == "AKIDx"


def test_a_named_profile_must_exist_the_implicit_default_may_not(home: Path) -> None:
    for env, options in (
        ({"HOME": str(home)}, CredentialOptions(profile="missing")),
        ({"HOME": str(home), "TENCENTCLOUD_PROFILE": "missing"}, None),
    ):
        with pytest.raises(
            CloudSetupError, match=r"profile 'missing': ~/.tccli/missing.credential"
        ):
            found(env, options)
    assert found({"HOME": str(home), **KEYS}).origin == "environment"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"secretId": "AKIDx", "secretKey": "topsecret"', "is not JSON"),
        ('["topsecret"]', "is not a JSON object"),
        ('{"secretId": "AKIDx"}', "has no secretId and secretKey"),
        ('{"type": "magic", "secretKey": "topsecret"}', "credential type 'magic'"),
        ('{"secretId": "AKIDx", "secretKey": "top secret"}', "contains spaces"),
    ],
)
def test_unusable_profiles_say_why_without_the_secret(
    home: Path, content: str, message: str
) -> None:
    (home / ".tccli").mkdir()
    (home / ".tccli" / "ci.credential").write_text(content)
    with pytest.raises(CloudSetupError, match=re.escape(message)) as info_:
        found({"HOME": str(home)}, CredentialOptions(profile="ci"))
    assert "topsecret" not in str(info_.value) and "top secret" not in str(info_.value)


def test_a_profile_name_is_not_a_path(home: Path) -> None:
    with pytest.raises(CloudSetupError, match="not a path"):
        found({"HOME": str(home)}, CredentialOptions(profile="../elsewhere"))


def test_an_expired_sso_profile_names_the_tccli_command(home: Path) -> None:
    fields = {"type": "sso", "secretId": "AKIDs", "secretKey": "s-key", "token": "s-tok"}
    path = write_tccli_credential(home / ".tccli", "sso", fields)
    document = json.loads(path.read_text()) | {"expiresAt": 1_000_000_000}
    path.write_text(json.dumps(document))
    with pytest.raises(CloudSetupError, match=r"expired at 2001-09-09T01:46:40Z.*tccli sso login"):
        found({"HOME": str(home)}, CredentialOptions(profile="sso"))


def test_a_temporary_profile_is_read_again_when_tccli_refreshed_it(home: Path) -> None:
    clock = FakeClock()
    path = home / ".tccli" / "o.credential"
    write_tccli_credential(home / ".tccli", "o", {"type": "oauth", "secretId": "AKID1"})

    def refresh(number: int, expires_at: float) -> None:
        document = json.loads(path.read_text())
        document.update(secretId=f"AKID{number}", secretKey=f"k{number}", expiresAt=expires_at)
        path.write_text(json.dumps(document))

    refresh(1, clock.wall() + 3600)
    source = resolve(
        CredentialOptions(profile="o"),
        environ={"HOME": str(home)},
        endpoint=Endpoint(),
        clock=clock,
    )
    clock.advance(3600 - 200)  # inside the last five minutes: read the file again
    refresh(2, clock.wall() + 3600)
    source.credential.renew_if_due()
    assert info(source)[:2] == ("AKID2", "k2")


def test_a_role_named_by_the_flag_is_assumed_with_the_base_credentials(
    home: Path, account: Emulator
) -> None:
    env = {
        "HOME": str(home),
        "TENCENTCLOUD_SECRET_ID": DEFAULT_SECRET_ID,
        "TENCENTCLOUD_SECRET_KEY": DEFAULT_SECRET_KEY,
    }
    options = CredentialOptions(assume_role=ROLE, session_name="ci-42", duration=900)
    source = found(env, options, endpoint=parse_endpoint(account.url))
    assert source.identity == ROLE
    assert source.origin == f"role {ROLE} assumed with credentials from environment"
    secret_id, _, token = info(source)
    assert secret_id.startswith("AKID") and secret_id != DEFAULT_SECRET_ID and token
    issued = [c for c in account.credentials() if c["tmpSecretId"] == secret_id]
    assert issued[0]["roleSessionName"] == "ci-42"


def test_a_profiles_role_arn_is_assumed(home: Path, account: Emulator) -> None:
    fields = {
        "secretId": DEFAULT_SECRET_ID,
        "secretKey": DEFAULT_SECRET_KEY,
        "role-arn": ROLE,
        "role-session-name": "from-profile",
    }
    write_tccli_credential(home / ".tccli", "default", fields)
    source = found({"HOME": str(home)}, endpoint=parse_endpoint(account.url))
    assert source.identity == ROLE
    assert "profile 'default'" in source.origin
    assert account.credentials()[-1]["roleSessionName"] == "from-profile"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (CredentialOptions(assume_role="arn:aws:iam::1:role/x"), "is not a CAM role ARN"),
        (CredentialOptions(assume_role=ROLE, session_name="x"), "role session name 'x'"),
        (
            CredentialOptions(assume_role="qcs::cam::uin/100000000001:roleName/nobody"),
            "no such role: check the role ARN [ResourceNotFound.RoleNotFound",
        ),
    ],
)
def test_role_problems_are_one_message(
    home: Path, account: Emulator, options: CredentialOptions, message: str
) -> None:
    env = {"HOME": str(home), "TENCENTCLOUD_SECRET_ID": DEFAULT_SECRET_ID}
    env["TENCENTCLOUD_SECRET_KEY"] = DEFAULT_SECRET_KEY
    with pytest.raises(CloudSetupError, match=re.escape(message)):
        found(env, options, endpoint=parse_endpoint(account.url))


def test_the_duration_variable_is_checked(home: Path) -> None:
    env = {"HOME": str(home), **KEYS, "TENCENTCLOUD_ASSUME_ROLE_ARN": ROLE}
    env["TENCENTCLOUD_ASSUME_ROLE_SESSION_DURATION"] = "2h"
    with pytest.raises(CloudSetupError, match="give whole seconds, 1 to 43200"):
        found(env)


@pytest.mark.parametrize(
    "content", [OIDC_TOKEN + "\n", json.dumps({"web_identity_token": OIDC_TOKEN})]
)
def test_web_identity_from_a_raw_or_terraform_token_file(
    tmp_path: Path, home: Path, account: Emulator, content: str
) -> None:
    token_file = tmp_path / "oidc-token"
    token_file.write_text(content)
    options = CredentialOptions(
        assume_role=ROLE,
        web_identity_token_file=str(token_file),
        web_identity_provider="github-actions",
    )
    source = found({"HOME": str(home), **KEYS}, options, endpoint=parse_endpoint(account.url))
    assert source.identity == ROLE
    assert "web identity token file" in source.origin and "github-actions" in source.origin
    assert info(source)[0] != "AKIDenv"  # web identity comes first: no key used


def test_web_identity_from_the_terraform_environment(home: Path, account: Emulator) -> None:
    env = {
        "HOME": str(home),
        "TENCENTCLOUD_ASSUME_ROLE_ARN": ROLE,
        "TENCENTCLOUD_ASSUME_ROLE_WEB_IDENTITY_TOKEN": OIDC_TOKEN,
        "TENCENTCLOUD_ASSUME_ROLE_PROVIDER_ID": "github-actions",
    }
    assert found(env, endpoint=parse_endpoint(account.url)).identity == ROLE


def test_web_identity_problems(tmp_path: Path, home: Path, account: Emulator) -> None:
    token_file = tmp_path / "oidc-token"
    token_file.write_text("forged")
    endpoint = parse_endpoint(account.url)
    with pytest.raises(CloudSetupError, match="needs the role to assume"):
        found({"HOME": str(home)}, CredentialOptions(web_identity_token_file=str(token_file)))
    options = CredentialOptions(
        assume_role=ROLE,
        web_identity_token_file=str(token_file),
        web_identity_provider="github-actions",
    )
    with pytest.raises(CloudSetupError, match="the OIDC token was refused"):
        found({"HOME": str(home)}, options, endpoint=endpoint)
    token_file.write_text("\n")
    with pytest.raises(CloudSetupError, match="holds no token"):
        found({"HOME": str(home)}, options, endpoint=endpoint)


def test_tke_oidc_from_what_tke_injects(tmp_path: Path, home: Path, account: Emulator) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(OIDC_TOKEN)
    env = {
        "HOME": str(home),
        "TKE_REGION": "ap-singapore",
        "TKE_PROVIDER_ID": "github-actions",
        "TKE_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "TKE_ROLE_ARN": ROLE,
    }
    source = found(env, endpoint=parse_endpoint(account.url))
    assert source.identity == ROLE and "TKE OIDC" in source.origin


@pytest.mark.parametrize(
    ("trtc", "override", "expected"),
    [
        (None, None, Endpoint()),
        ("http://127.0.0.1:8080", None, Endpoint("http", "127.0.0.1:8080")),
        (
            "https://trtc.internal.tencentcloudapi.com",
            None,
            Endpoint("https", "sts.internal.tencentcloudapi.com"),
        ),
        ("https://gw.example:8443", None, Endpoint("https", "gw.example:8443")),
        ("http://127.0.0.1:8080", "https://sts.example", Endpoint("https", "sts.example")),
    ],
)
def test_sts_follows_the_endpoint(
    trtc: str | None, override: str | None, expected: Endpoint
) -> None:
    assert sts_endpoint(parse_endpoint(trtc), parse_endpoint(override) if override else None) == (
        expected
    )


def test_no_credentials_is_one_message_listing_every_source(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(home))  # the SDK's own profile file reader uses it
    if Path("/etc/tencentcloud/credentials").exists():  # pragma: no cover
        pytest.skip("machine has a system-wide profile file")
    with pytest.raises(CloudSetupError) as info_:
        found({"HOME": str(home)})
    message = str(info_.value)
    assert message.startswith("no Tencent Cloud credentials found; tried, in order:")
    for number, source in enumerate(SOURCES, 1):
        assert f"  {number}. {source.name}: {source.how}" in message
    for how in ("--web-identity-token-file", "TENCENTCLOUD_SECRET_ID", "--profile NAME",
                "~/.tccli", "~/.tencentcloud/credentials", "CVM", "TKE_ROLE_ARN"):  # fmt: skip
        assert how in message


def test_the_readme_table_is_the_chain() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Credentials\n", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| (\d) \| ([^|]+?) \|", section, flags=re.MULTILINE)
    assert [(int(n), name) for n, name in rows] == [
        (number, source.name) for number, source in enumerate(SOURCES, 1)
    ]


def test_every_secret_found_or_issued_is_handed_over_for_redaction(
    tmp_path: Path, home: Path, account: Emulator
) -> None:
    token_file = tmp_path / "oidc-token"
    token_file.write_text(OIDC_TOKEN)
    redacted: list[str] = []
    options = CredentialOptions(
        assume_role=ROLE,
        web_identity_token_file=str(token_file),
        web_identity_provider="github-actions",
    )
    source = resolve(
        options,
        environ={"HOME": str(home)},
        endpoint=parse_endpoint(account.url),
        on_secrets=redacted.extend,
    )
    _, secret_key, token = info(source)
    assert {OIDC_TOKEN, secret_key, token} <= set(redacted)
    redacted.clear()
    resolve(CredentialOptions(), environ={"HOME": str(home), **KEYS}, endpoint=Endpoint(),
            on_secrets=redacted.extend)  # fmt: skip
    assert redacted == ["env-secret-key"]
