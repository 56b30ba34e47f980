"""The renewing credential on fake time: renewed before expiry and only then, a failed
renewal tolerated while the credentials still hold, one fetch for many threads, and
never a secret in a log line."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from reconciler.credentials import Issued, RenewingCredential
from reconciler.credentials.renewing import RENEW_BEFORE_SECONDS, renewal_margin
from reconciler.domain import CallError, ErrorClass
from reconciler.errors import CloudCallError, CloudSetupError
from tests.fakes import FakeClock


class Sts:
    """A scripted STS: numbered credentials living ``lifetime`` seconds, or failures."""

    def __init__(self, clock: FakeClock, lifetime: float) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.fetches = 0
        self.fail_with: ErrorClass | None = None
        self.issued: list[Issued] = []

    def __call__(self) -> Issued:
        if self.fail_with is not None:
            raise CloudCallError(CallError("InternalError", "STS is down"), self.fail_with)
        self.fetches += 1
        issued = Issued(
            f"AKIDtmp{self.fetches}",
            f"key-{self.fetches}-secret",
            f"token-{self.fetches}-secret",
            expires_at=self.clock.wall() + self.lifetime,
        )
        self.issued.append(issued)
        return issued


def renewing(clock: FakeClock, fetch: Callable[[], Issued]) -> RenewingCredential:
    return RenewingCredential(fetch, describe="role qcs::cam::uin/1:roleName/r", clock=clock)


def test_margin_is_five_minutes_or_half_a_short_lifetime() -> None:
    assert renewal_margin(7200) == RENEW_BEFORE_SECONDS == 300
    assert renewal_margin(600) == 300
    assert renewal_margin(2) == 1
    assert renewal_margin(-5) == 0


@pytest.mark.parametrize(("lifetime", "renew_after"), [(7200, 6900), (2, 1), (60, 30)])
def test_renewed_once_the_margin_is_reached_and_not_before(
    lifetime: float, renew_after: float
) -> None:
    clock = FakeClock()
    sts = Sts(clock, lifetime)
    credential = renewing(clock, sts)
    credential.renew_if_due()
    assert credential.get_credential_info() == ("AKIDtmp1", "key-1-secret", "token-1-secret")
    clock.advance(renew_after - 0.01)
    credential.renew_if_due()
    assert sts.fetches == 1
    clock.advance(0.02)
    credential.renew_if_due()
    assert sts.fetches == 2
    assert credential.get_credential_info()[0] == "AKIDtmp2"
    assert credential.renewals == 1


def test_long_term_credentials_are_fetched_once() -> None:
    clock = FakeClock()
    fetches = []
    credential = renewing(clock, lambda: fetches.append(1) or Issued("AKIDlong", "k" * 8))
    for _ in range(3):
        credential.renew_if_due()
        clock.advance(10 * 365 * 86400)
    assert len(fetches) == 1


def test_a_failed_renewal_keeps_valid_credentials_and_tries_again_later() -> None:
    clock = FakeClock()
    sts = Sts(clock, 100)
    credential = renewing(clock, sts)
    credential.renew_if_due()
    clock.advance(60)  # 40 s left, inside the 50 s margin: due
    sts.fail_with = ErrorClass.RETRYABLE
    with capture_logs() as logs:
        credential.renew_if_due()
        credential.renew_if_due()  # not again at once: wait min(10 s, 40 s / 4)
    assert [entry["event"] for entry in logs] == [
        "credential renewal failed; the current credentials are still valid"
    ]
    assert credential.get_credential_info()[0] == "AKIDtmp1"
    clock.advance(10)
    sts.fail_with = None
    credential.renew_if_due()
    assert credential.get_credential_info()[0] == "AKIDtmp2"


def test_a_failed_renewal_after_expiry_raises_the_classified_error() -> None:
    clock = FakeClock()
    sts = Sts(clock, 100)
    credential = renewing(clock, sts)
    credential.renew_if_due()
    clock.advance(100)
    sts.fail_with = ErrorClass.FATAL
    with pytest.raises(CloudCallError) as info:
        credential.renew_if_due()
    assert info.value.error_class is ErrorClass.FATAL


def test_the_first_fetch_failing_raises() -> None:
    clock = FakeClock()
    sts = Sts(clock, 100)
    sts.fail_with = ErrorClass.RETRYABLE
    with pytest.raises(CloudCallError):
        renewing(clock, sts).renew_if_due()


def test_every_issued_set_is_seen_and_no_secret_is_logged() -> None:
    clock = FakeClock()
    sts = Sts(clock, 4)
    seen: list[Issued] = []
    credential = RenewingCredential(sts, describe="role r", clock=clock, on_issue=seen.append)
    with capture_logs() as logs:
        for _ in range(5):
            credential.renew_if_due()
            clock.advance(2.5)
    assert seen == sts.issued and len(seen) == 5
    assert [entry["event"] for entry in logs].count("credentials renewed") == 4
    text = repr(logs)
    for issued in seen:
        assert issued.secret_key not in text and str(issued.token) not in text


class SlowSts:
    """An STS whose second and later answers wait for ``release``."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.fetching = threading.Event()
        self.release = threading.Event()
        self.issued: list[int] = []

    def __call__(self) -> Issued:
        number = len(self.issued) + 1
        if number > 1:
            self.fetching.set()
            assert self.release.wait(5)
        self.issued.append(number)
        return Issued(f"id{number}", f"key{number}", f"t{number}", self.clock.wall() + 10)


def workers(credential: RenewingCredential, count: int) -> tuple[list[threading.Thread], list]:
    triples: list[tuple[str, str, str | None]] = []

    def work() -> None:
        credential.renew_if_due()
        triples.append(credential.get_credential_info())

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, triples


def test_while_one_worker_renews_the_others_go_on_with_valid_credentials() -> None:
    clock = FakeClock()
    sts = SlowSts(clock)
    credential = renewing(clock, sts)
    credential.renew_if_due()
    clock.advance(6)  # due (5 s margin), still valid for 4 s: nobody needs to wait
    threads, triples = workers(credential, 8)
    assert sts.fetching.wait(5)
    deadline = time.monotonic() + 5
    while len(triples) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert triples == [("id1", "key1", "t1")] * 7  # seven went on while STS was slow
    sts.release.set()
    for thread in threads:
        thread.join(5)
    assert sts.issued == [1, 2] and triples[-1] == ("id2", "key2", "t2")
    assert credential.get_credential_info() == ("id2", "key2", "t2")


def test_with_expired_credentials_the_workers_wait_for_the_one_renewal() -> None:
    clock = FakeClock()
    sts = SlowSts(clock)
    credential = renewing(clock, sts)
    credential.renew_if_due()
    clock.advance(11)  # expired: nobody may sign with them any more
    threads, triples = workers(credential, 8)
    assert sts.fetching.wait(5)
    time.sleep(0.05)
    assert triples == []  # all wait, none fetches twice
    sts.release.set()
    for thread in threads:
        thread.join(5)
    assert sts.issued == [1, 2]
    assert triples == [("id2", "key2", "t2")] * 8


def test_a_source_that_breaks_mid_run_is_fatal_once_nothing_valid_is_left() -> None:
    clock = FakeClock()
    answers: list[Issued | CloudSetupError] = [
        Issued("id1", "key1", "t1", clock.wall() + 10),
        CloudSetupError("web identity token file /run/token holds no token"),
    ]

    def fetch() -> Issued:
        answer = answers[0] if len(answers) == 1 else answers.pop(0)
        if isinstance(answer, CloudSetupError):
            raise answer
        return answer

    credential = renewing(clock, fetch)
    credential.renew_if_due()
    clock.advance(6)
    credential.renew_if_due()  # still valid: deferred, not raised
    clock.advance(5)
    with pytest.raises(CloudCallError) as info:
        credential.renew_if_due()
    assert info.value.error_class is ErrorClass.FATAL
    assert "holds no token" in info.value.error.message
