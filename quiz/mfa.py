"""A second factor for privileged roles: a time-based code (TOTP, RFC 6238, with pyotp) from an
app on the person's phone, and ten one-time recovery codes for when the phone is lost.

Who must have one: the account roles in the MFA_ROLES setting, when they sign in with a Rounds
password (single sign-on leaves the second factor to the identity provider). The web layer asks
for it after the password (``verify``, then ``accounts.record_sign_in`` names the factor used),
makes those who have none set one up before any other page opens (``enroll``), and asks again on
a privileged page once MFA_STEP_UP_MINUTES have passed since the last code.

What is kept, and how (docs/operations.md, "Second factor (MFA)"):

- the TOTP secret, encrypted (Fernet: AES-128-CBC and HMAC-SHA256) with a key derived by HKDF
  from the app's SECRET_KEY, which the database never holds: a copy of the database alone does
  not give the secrets. If SECRET_KEY changes, the secrets cannot be read: each person's code
  is refused ("second-factor-unreadable") until an admin resets their factor and they set it up
  again;
- the last time step a code was taken for: no code is taken twice (``last_step``);
- the recovery codes as HMAC-SHA256 under another key derived from SECRET_KEY (never the codes
  themselves): each is taken once, and renewing them voids the old ones.

Wrong codes count toward the account's lockout as wrong passwords do (accounts.LockoutPolicy);
enrollment, a recovery code used, codes renewed and a reset by someone else are evidence records.
Plain Python over the session it is given: it commits nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from . import accounts, evidence
from .models import ACCOUNT_ROLES, MfaFactor, MfaRecoveryCode, User, as_utc

#: The name the authenticator app shows above the account.
ISSUER = "Rounds"
TOTP = "totp"
RECOVERY_CODE = "recovery-code"
#: How many recovery codes are made at once.
RECOVERY_CODES = 10
#: The letters of a recovery code: no 0/o, 1/l/i to mistake for each other (31 of them; 12 make
#: about 59 bits).
_CODE_LETTERS = "23456789abcdefghjkmnpqrstuvwxyz"
_CODE_LENGTH = 12
#: The time steps either side of now whose code is taken (a phone's clock a little off).
WINDOW = 1

#: Why a second factor was refused, as its record says.
REFUSALS = {
    "wrong-second-factor": "the code was neither the app's current code nor an unused recovery code",
    "second-factor-code-used-before": "the app's code was right but had been used already (a replay)",
    "second-factor-unreadable": "the stored secret cannot be read with this server's SECRET_KEY (it changed): an admin must reset the factor",
    "locked": "the account was locked after repeated failures",
}


class MfaError(ValueError):
    """Something the person or admin asked for cannot be done; the message says why."""


def roles_from(setting: str | Iterable[str]) -> frozenset[str]:
    """The MFA_ROLES setting (comma-separated account roles, or a list) as a set; an unknown
    role is refused so that a typo never leaves admins without a second factor."""
    names = setting.split(",") if isinstance(setting, str) else list(setting)
    roles = frozenset(name.strip().lower() for name in names if name.strip())
    unknown = sorted(roles - set(ACCOUNT_ROLES))
    if unknown:
        raise ValueError(
            f"MFA_ROLES names {', '.join(unknown)}: the account roles are {', '.join(ACCOUNT_ROLES)} "
            "(empty: nobody is asked)"
        )
    return roles


@dataclass(frozen=True)
class Keys:
    """The keys that guard what is kept of second factors, derived from the app's SECRET_KEY."""

    secrets_key: Fernet = field(repr=False)
    codes_key: bytes = field(repr=False)

    @classmethod
    def from_secret_key(cls, secret_key: str | bytes) -> Keys:
        material = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if not material:
            raise MfaError("there is no SECRET_KEY to derive the second factor's keys from")
        return cls(
            Fernet(base64.urlsafe_b64encode(_derive(material, b"rounds mfa: totp secrets"))),
            _derive(material, b"rounds mfa: recovery codes"),
        )

    def encrypt(self, text: str) -> str:
        return self.secrets_key.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """The text, or None if it was encrypted with another key (SECRET_KEY changed)."""
        try:
            return self.secrets_key.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            return None

    def code_hash(self, code: str) -> str:
        return hmac.new(self.codes_key, normal_code(code).encode(), hashlib.sha256).hexdigest()


def _derive(material: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(material)


def new_secret() -> str:
    """A new TOTP secret (base32, 160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """What the QR code holds: the otpauth:// address an authenticator app reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def normal_code(code: str) -> str:
    """A code as typed, without spaces or dashes, in lower case."""
    return "".join(code.split()).replace("-", "").lower()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_CODE_LETTERS) for _ in range(_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, _CODE_LENGTH, 4))


def _matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step whose code this is (now, or one step either side), or None."""
    code = normal_code(code)
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(at)
    for step in (now, *(now + d for d in range(-WINDOW, WINDOW + 1) if d)):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


@dataclass(frozen=True)
class Status:
    """What a person has, for the pages that show it."""

    enrolled_at: datetime | None
    recovery_codes_left: int

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None


def status(session: Session, user_id: int) -> Status:
    factor = session.get(MfaFactor, user_id)
    left = session.scalar(
        select(func.count())
        .select_from(MfaRecoveryCode)
        .where(MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None))
    )
    return Status(as_utc(factor.enrolled_at) if factor else None, int(left or 0))


def is_enrolled(session: Session, user_id: int) -> bool:
    return session.get(MfaFactor, user_id) is not None


def _make_codes(session: Session, user: User, keys: Keys, at: datetime) -> list[str]:
    session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(MfaRecoveryCode(user_id=user.id, code_hash=keys.code_hash(c), created_at=at) for c in codes)
    return codes


def check_enrollment_code(secret: str, code: str, at: datetime) -> bool:
    """Whether ``code`` is the app's code for a secret being set up (read-only: nothing kept)."""
    return _matching_step(secret, code, at) is not None


def enroll(
    session: Session, user: User, secret: str, code: str, keys: Keys, *, at: datetime, session_id: str | None
) -> list[str]:
    """Set up ``secret`` as ``user``'s second factor, once they typed its current ``code`` (so
    their app has it): the secret kept encrypted, the code's time step as used, ten new recovery
    codes (returned to be shown once: only their hashes are kept), and an evidence record. The
    caller has read the account locked."""
    if session.get(MfaFactor, user.id) is not None:
        raise MfaError("You already have a second factor set up.")
    step = _matching_step(secret, code, at)
    if step is None:
        raise MfaError(
            "That is not the code your app shows now. Check the app has the account, then type its current code."
        )
    session.add(
        MfaFactor(user_id=user.id, kind=TOTP, secret_encrypted=keys.encrypt(secret), last_step=step, enrolled_at=at)
    )
    codes = _make_codes(session, user, keys, at)
    evidence.append(
        session,
        "person.mfa-enrolled",
        user=user,
        details={"factor": TOTP, "recovery_codes_made": len(codes), "session": session_id},
    )
    return codes


def renew_recovery_codes(
    session: Session, user: User, keys: Keys, *, at: datetime, session_id: str | None
) -> list[str]:
    """Ten new recovery codes for ``user`` (returned to be shown once); the old ones, used or
    not, stop working. An evidence record."""
    if session.get(MfaFactor, user.id) is None:
        raise MfaError("Set up your second factor first.")
    voided = status(session, user.id).recovery_codes_left
    codes = _make_codes(session, user, keys, at)
    evidence.append(
        session,
        "person.mfa-recovery-codes-renewed",
        user=user,
        details={"recovery_codes_made": len(codes), "unused_codes_voided": voided, "session": session_id},
    )
    return codes


@dataclass(frozen=True)
class Checked:
    """What ``verify`` found: the factor used (``TOTP`` or ``RECOVERY_CODE``) or why not
    (``REFUSALS``), how many recovery codes are left, and whether the account is now locked."""

    factor: str | None = None
    refused: str | None = None
    recovery_codes_left: int | None = None
    locked_until: datetime | None = None

    @property
    def accepted(self) -> bool:
        return self.factor is not None


#: Where a code is typed: right after the password, or on a privileged page asked again.
SIGN_IN = "sign-in"
STEP_UP = "step-up"


def verify(
    session: Session,
    user: User,
    code: str,
    keys: Keys,
    policy: accounts.LockoutPolicy = accounts.LockoutPolicy(),
    *,
    at: datetime,
    where: str,
    session_id: str | None,
) -> Checked:
    """Check a code ``user`` typed (``where``: SIGN_IN or STEP_UP), and keep the outcome: the
    time step used, or the recovery code used (an evidence record naming how many are left), or
    the failure counted toward the lockout as a wrong password is, with its evidence record
    (``session.sign-in-refused`` at sign-in, ``session.step-up-refused`` when asked again). A
    locked account is refused without counting. The caller has read the account locked; at
    sign-in, it records the sign-in itself when the code is accepted (accounts.record_sign_in).
    When asked again, the failure that locks the account also ends every session of it."""
    locked_until = as_utc(user.locked_until)
    if locked_until and locked_until > at:
        _refusal(
            session,
            user,
            where,
            session_id,
            {"refused": "locked", "locked_until": evidence.utc_timestamp(locked_until)},
        )
        return Checked(refused="locked", locked_until=locked_until)
    factor = session.get(MfaFactor, user.id, with_for_update=True, populate_existing=True)
    if factor is None:
        raise MfaError("There is no second factor set up for this account.")
    secret = keys.decrypt(factor.secret_encrypted)
    if secret is None:  # not counted: no code could be right
        _refusal(session, user, where, session_id, {"refused": "second-factor-unreadable"})
        return Checked(refused="second-factor-unreadable")
    step = _matching_step(secret, code, at)
    if step is not None and (factor.last_step is None or step > factor.last_step):
        factor.last_step = step
        _reset_failures(user)
        return Checked(factor=TOTP)
    if step is None and (used := _use_recovery_code(session, user, code, keys, at)) is not None:
        _reset_failures(user)
        evidence.append(
            session,
            "person.mfa-recovery-code-used",
            user=user,
            details={"where": where, "recovery_codes_left": used, "session": session_id},
        )
        return Checked(factor=RECOVERY_CODE, recovery_codes_left=used)
    refused = "second-factor-code-used-before" if step is not None else "wrong-second-factor"
    user.failed_logins = (user.failed_logins or 0) + 1
    details: dict = {"refused": refused, "failures_in_a_row": user.failed_logins}
    if user.failed_logins >= policy.failures:
        user.locked_until = at + timedelta(minutes=policy.minutes)
        user.failed_logins = 0
        details["locked_until"] = evidence.utc_timestamp(user.locked_until)
        if where == STEP_UP:  # someone holds a session but not the factor: it ends, with every other
            accounts.end_all_sessions(user)
            details["every_session_ended"] = True
    _refusal(session, user, where, session_id, details)
    return Checked(refused=refused, locked_until=as_utc(user.locked_until) if "locked_until" in details else None)


def _reset_failures(user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None


def _use_recovery_code(session: Session, user: User, code: str, keys: Keys, at: datetime) -> int | None:
    """Mark the unused recovery code ``code`` used; how many are left then (None: no such code)."""
    if len(normal_code(code)) != _CODE_LENGTH:
        return None
    row = session.scalar(
        select(MfaRecoveryCode)
        .where(
            MfaRecoveryCode.user_id == user.id,
            MfaRecoveryCode.code_hash == keys.code_hash(code),
            MfaRecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if row is None:
        return None
    row.used_at = at
    session.flush()
    return status(session, user.id).recovery_codes_left


def _refusal(session: Session, user: User, where: str, session_id: str | None, details: dict) -> None:
    kind = "session.sign-in-refused" if where == SIGN_IN else "session.step-up-refused"
    evidence.append(
        session,
        kind,
        user=user,
        details={"method": accounts.PASSWORD, "step": "second factor", **details, "session": session_id},
    )


def reset(session: Session, user: User, *, by: User | str) -> bool:
    """Someone else clears ``user``'s second factor and recovery codes (a lost phone): an admin
    (their account) or the command line (in words). Every session of theirs ends; at their next
    sign-in with their password they set one up again. An evidence record naming who did it.
    Nobody resets their own: it would let a stolen session drop the factor. Returns whether
    there was anything to clear."""
    if isinstance(by, User) and by.id == user.id:
        raise MfaError("You cannot reset your own second factor: ask another admin.")
    had = status(session, user.id)
    if not had.enrolled and not had.recovery_codes_left:
        return False
    session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    session.execute(delete(MfaFactor).where(MfaFactor.user_id == user.id))
    accounts.end_all_sessions(user)
    evidence.append(
        session,
        "person.mfa-reset",
        user=user,
        details={
            "by": by.email if isinstance(by, User) else by,
            "enrolled_at": evidence.utc_timestamp(had.enrolled_at) if had.enrolled_at else None,
            "unused_recovery_codes_voided": had.recovery_codes_left,
            "every_session_ended": True,
        },
    )
    return True


def now() -> datetime:
    return datetime.now(UTC)
