"""The second factor's rules (quiz/mfa.py) on a plain Session: a code is taken once, within one
time step of now; recovery codes once each; failures counted toward the lockout; the keys come
from SECRET_KEY and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from quiz import accounts, mfa
from quiz.models import MfaFactor

KEYS = mfa.Keys.from_secret_key("unit-secret-key")
AT = datetime(2026, 12, 6, 9, 0, 0, tzinfo=UTC)
POLICY = accounts.LockoutPolicy(failures=3, minutes=15)


def enrolled(session, person):
    user = person(role="admin")
    secret = mfa.new_secret()
    codes = mfa.enroll(session, user, secret, pyotp.TOTP(secret).at(AT), KEYS, at=AT, session_id="s1")
    return user, secret, codes


def check(session, user, code, at=AT, where=mfa.SIGN_IN):
    return mfa.verify(session, user, code, KEYS, POLICY, at=at, where=where, session_id="s2")


def test_mfa_roles_are_checked_against_the_account_roles():
    assert mfa.roles_from("admin, Compliance,,trainer") == {"admin", "compliance", "trainer"}
    assert mfa.roles_from("") == frozenset()
    with pytest.raises(ValueError, match="MFA_ROLES names admins"):
        mfa.roles_from("admins")


def test_the_keys_come_from_the_secret_key_alone():
    token = KEYS.encrypt("JBSWY3DPEHPK3PXP")
    assert mfa.Keys.from_secret_key("unit-secret-key").decrypt(token) == "JBSWY3DPEHPK3PXP"
    assert mfa.Keys.from_secret_key("another-key").decrypt(token) is None
    assert KEYS.code_hash("ABCD-efgh 2345") == KEYS.code_hash("abcdefgh2345")
    assert KEYS.code_hash("abcdefgh2345") != mfa.Keys.from_secret_key("another-key").code_hash("abcdefgh2345")


def test_a_code_is_taken_within_one_step_of_now_and_only_once(session, person):
    user, secret, _ = enrolled(session, person)
    totp = pyotp.TOTP(secret)
    assert check(session, user, totp.at(AT)).refused == "second-factor-code-used-before"  # set-up took it
    assert check(session, user, totp.at(AT, counter_offset=2)).refused == "wrong-second-factor"  # too far ahead
    assert user.failed_logins == 2
    assert check(session, user, totp.at(AT, counter_offset=1)).factor == mfa.TOTP
    assert user.failed_logins == 0  # the accepted code cleared the failures before it
    later = AT + timedelta(seconds=30)  # the code of a step before the last one taken: refused
    assert check(session, user, totp.at(AT), at=later).refused == "second-factor-code-used-before"
    assert user.failed_logins == 1


def test_failures_lock_the_account_and_a_locked_one_is_not_counted(session, person):
    user, secret, _ = enrolled(session, person)
    for n in (1, 2):
        assert check(session, user, "000000").refused == "wrong-second-factor"
        assert user.failed_logins == n
    third = check(session, user, "000000")
    assert third.locked_until == AT + timedelta(minutes=15) and user.failed_logins == 0
    right = pyotp.TOTP(secret).at(AT, counter_offset=1)
    assert check(session, user, right).refused == "locked"  # even the right code, while locked
    assert session.get(MfaFactor, user.id).last_step == pyotp.TOTP(secret).timecode(AT)


def test_recovery_codes_work_once_each_and_renewing_voids_them(session, person):
    user, _, codes = enrolled(session, person)
    assert len(codes) == 10 and all(len(mfa.normal_code(c)) == 12 for c in codes)
    used = check(session, user, codes[0])
    assert used.factor == mfa.RECOVERY_CODE and used.recovery_codes_left == 9
    assert check(session, user, codes[0]).refused == "wrong-second-factor"
    new = mfa.renew_recovery_codes(session, user, KEYS, at=AT, session_id="s1")
    assert check(session, user, codes[1]).refused == "wrong-second-factor"
    assert check(session, user, new[1]).recovery_codes_left == 9


def test_nobody_resets_their_own_and_a_reset_ends_every_session(session, person):
    user, _, _ = enrolled(session, person)
    with pytest.raises(mfa.MfaError):
        mfa.reset(session, user, by=user)
    version = user.session_version
    assert mfa.reset(session, user, by="the command line (test)") is True
    assert user.session_version == version + 1
    assert not mfa.is_enrolled(session, user.id) and mfa.status(session, user.id).recovery_codes_left == 0
    assert mfa.reset(session, user, by="the command line (test)") is False
