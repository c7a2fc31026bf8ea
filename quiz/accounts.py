"""Accounts: creating people, hashing passwords (Argon2id), signing in with lockout."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import evidence
from .content import JOB_ROLES, SPECIALTIES
from .models import ACCOUNT_ROLES, User, as_utc

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()  # Argon2id, argon2-cffi's RFC 9106 defaults
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Verified against when the email is unknown, so a miss costs the same time as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


class AccountError(ValueError):
    """A bad field; ``field`` names it so a form or CLI can show the message beside it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    role: str = "learner",
    job_role: str,
    specialty: str | None = None,
    department: str | None = None,
    supervisor_email: str | None = None,
) -> User:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise AccountError("email", f"'{email}' is not an email address")
    if find_by_email(session, email):
        raise AccountError("email", f"{email} already has an account")
    if not name.strip():
        raise AccountError("name", "a full name is required")
    if role not in ACCOUNT_ROLES:
        raise AccountError("role", f"role must be one of {', '.join(ACCOUNT_ROLES)}")
    if job_role not in JOB_ROLES:
        raise AccountError("job_role", f"job role must be one of {', '.join(JOB_ROLES)}")
    if specialty and specialty not in SPECIALTIES:
        raise AccountError("specialty", f"specialty must be one of {', '.join(SPECIALTIES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    supervisor = None
    if supervisor_email:
        supervisor = find_by_email(session, supervisor_email)
        if supervisor is None:
            raise AccountError("supervisor", f"no account for supervisor {supervisor_email}")
    user = User(
        email=email,
        name=" ".join(name.split()),
        password_hash=hash_password(password),
        role=role,
        job_role=job_role,
        specialty=specialty or None,
        department=department or None,
        supervisor=supervisor,
        active=True,
        session_version=1,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class LockoutPolicy:
    failures: int = 10
    minutes: int = 15


@dataclass(frozen=True)
class PasswordCheck:
    """What ``check_password`` found, for ``record_sign_in`` to record."""

    at: datetime
    user_id: int | None = None  # the account to record the outcome on; None: nothing to record
    accepted: bool = False  # the right password, on an active account
    new_hash: str | None = None  # the password hashed again, when its hash has older parameters


def check_password(session: Session, email: str, password: str) -> PasswordCheck:
    """The slow half of signing in (an Argon2id check, ~100 ms): only reads, so the caller can
    run it where no writer waits on it (docs/architecture.md, "Transactions"). An unknown email
    or a locked account costs the same time as a known one, and records nothing."""
    now = datetime.now(timezone.utc)
    user = find_by_email(session, email)
    if user is None:
        _verify(_DUMMY_HASH, password)
        return PasswordCheck(now)
    user_id, active, stored_hash = user.id, user.active, user.password_hash
    locked_until = as_utc(user.locked_until)
    if locked_until and locked_until > now:
        _verify(_DUMMY_HASH, password)
        return PasswordCheck(now)
    right = _verify(stored_hash, password)
    new_hash = hash_password(password) if right and _hasher.check_needs_rehash(stored_hash) else None
    return PasswordCheck(now, user_id, accepted=right and active, new_hash=new_hash)


def record_sign_in(session: Session, check: PasswordCheck, policy: LockoutPolicy = LockoutPolicy()) -> User | None:
    """The other half: the outcome kept on the account (the failure count and lockout, or their
    reset and a re-hashed password). Only writes that: a short writing transaction. The account
    is read again, locked, so that two failures at once count as two."""
    if check.user_id is None:
        return None
    user = session.get(User, check.user_id, populate_existing=True, with_for_update=True)
    if user is None:  # cannot happen (accounts are deactivated, never deleted): nothing to keep
        return None
    if not check.accepted:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= policy.failures:
            user.locked_until = check.at + timedelta(minutes=policy.minutes)
            user.failed_logins = 0
        return None
    user.failed_logins = 0
    user.locked_until = None
    if check.new_hash is not None:
        user.password_hash = check.new_hash
    return user


def authenticate(
    session: Session, email: str, password: str, policy: LockoutPolicy = LockoutPolicy()
) -> User | None:
    """The user if the password is right and the account usable; None otherwise, whatever the
    reason (the caller must not tell an attacker which part was wrong).

    ``check_password`` then ``record_sign_in``, on the session as given, in its transaction:
    nothing is committed here. The sign-in page runs the two halves itself, the check in a read
    transaction and the record in a short writing one, so sign-ins never queue behind each
    other's hashing.
    """
    return record_sign_in(session, check_password(session, email, password), policy)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def end_all_sessions(user: User) -> None:
    """Every cookie issued before now stops working (logout, password change)."""
    user.session_version = (user.session_version or 0) + 1


#: Account roles by name, and what each opens, as an admin chooses between them. Everyone has
#: My training.
ROLE_NAMES = {"learner": "Learner", "manager": "Manager", "trainer": "Trainer", "compliance": "Compliance officer", "admin": "Admin"}
ROLE_DESCRIPTIONS = {
    "learner": "My training only.",
    "manager": "My team too: their reports' training, assignments, waivers and trigger events.",
    "trainer": "Content too: what the server loaded from the content files, every branch of each module, trying a file.",
    "compliance": "Compliance too: the training report, the evidence and audit packages (read-only: only making a package is recorded).",
    "admin": "Everything: My team for everyone, Content, Compliance, and Admin (roster, passwords, outbox, account roles).",
}


def set_role(session: Session, user: User, role: str, by: User | str) -> bool:
    """Give ``user`` the account role ``role``, recorded as evidence (from, to, and by whom:
    an admin's account, or words for the command line). It takes effect on their next request
    (the role is read with the account on every one). Returns whether anything changed. Nobody
    changes their own in the browser: an admin cannot lock the last admin out by mistake, nor
    raise themselves."""
    if role not in ACCOUNT_ROLES:
        raise AccountError("role", f"role must be one of {', '.join(ACCOUNT_ROLES)}")
    if isinstance(by, User) and user.id == by.id:
        raise AccountError("role", "You cannot change your own account role: ask another admin.")
    if user.role == role:
        return False
    who = by.email if isinstance(by, User) else by
    evidence.append(session, "person.role-changed", user=user, details={"from": user.role, "to": role, "by": who})
    user.role = role
    return True


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = hash_password(password)
    end_all_sessions(user)
