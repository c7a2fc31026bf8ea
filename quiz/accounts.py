"""Accounts: creating people, hashing passwords (Argon2id), signing in with lockout, and the
evidence of every actor: each sign-in (and each refused one), sign-out, password set by an admin
and password chosen by the person is a record, and an account whose password someone else set
says so until its owner chooses their own."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import clock, evidence, mailer, password_rules
from .content import JOB_ROLES, SPECIALTIES
from .db import Steps
from .models import ACCOUNT_ROLES, NO_PASSWORD, OutboxMessage, User, as_utc, utcnow

MIN_PASSWORD_LENGTH = 12
#: The longest password taken anywhere: the sign-in form, the admin's form, the command line
#: and the page where people choose their own all hold to ``check_password_rule``.
MAX_PASSWORD_LENGTH = 1024
#: The rule in words, for forms and the command line's help.
PASSWORD_RULE = f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
#: How passwords are hashed unless the app's ARGON2 setting says otherwise (only the tests do):
#: Argon2id with argon2-cffi's RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4), above
#: OWASP's minimum for Argon2id (m=19 MiB, t=2, p=1). tests/unit/test_password_hashing.py holds it.
PRODUCTION_ARGON2 = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PRODUCTION_ARGON2)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Verified against when the email is unknown, so a miss costs the same time as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def use_argon2(parameters: Parameters | None) -> None:
    """Hash and check passwords with ``parameters`` from now on; None: PRODUCTION_ARGON2.

    ``create_app`` calls this with the app's ARGON2 setting, which only the tests set (to cheap
    parameters: a production hash costs ~100 ms, and the suite makes thousands). It is not read
    from the environment. One process serves one app; a test process builds many, each of
    which sets it. A hash made with other parameters still verifies, and is re-hashed with these
    at its next sign-in (``check_password``)."""
    global _hasher, _DUMMY_HASH
    parameters = parameters or PRODUCTION_ARGON2
    if argon2_parameters() == parameters:
        return
    _hasher = PasswordHasher.from_parameters(parameters)
    _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def argon2_parameters() -> Parameters:
    """The parameters new password hashes are made with."""
    h = _hasher
    return Parameters(
        type=h.type,
        version=PRODUCTION_ARGON2.version,
        salt_len=h.salt_len,
        hash_len=h.hash_len,
        time_cost=h.time_cost,
        memory_cost=h.memory_cost,
        parallelism=h.parallelism,
    )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rule(password: str, *, email: str | None = None, name: str | None = None) -> None:
    """The one rule for a new password, wherever it is typed (AccountError if it is broken): its
    length, then what makes it easy to guess (quiz/password_rules.py: a common or breached
    password, a pattern, the person's own ``email`` or ``name``)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            "password",
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters " f"(and at most {MAX_PASSWORD_LENGTH})",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            "password",
            f"the password can have at most {MAX_PASSWORD_LENGTH} characters "
            f"(it has {len(password)}): the sign-in form takes no longer one",
        )
    wrong = password_rules.problem(password, email=email, name=name)
    if wrong:
        raise AccountError("password", f"the password {wrong}")


@dataclass(frozen=True)
class NewPassword:
    """A new password that keeps the rule, hashed: the slow part (~100 ms of Argon2id), done
    before any write lock is taken. Only its hash is kept, so nothing can store or record the
    password itself by mistake."""

    hash: str = field(repr=False)


def new_password(password: str, *, person: User | None = None) -> NewPassword:
    """``password`` held to the rule (for ``person``, whose email and name it may not contain),
    and hashed."""
    check_password_rule(password, email=person.email if person else None, name=person.name if person else None)
    return NewPassword(hash_password(password))


def generate_password(*, email: str | None = None, name: str | None = None) -> str:
    """A random password that keeps the rule (16 characters from 96 random bits), beginning and
    ending with a letter or digit: one shown to be copied must not start or end with a ``-`` or
    ``_`` that a double-click or a careful eye leaves behind."""
    while True:
        password = secrets.token_urlsafe(12)
        if not (password[0].isalnum() and password[-1].isalnum()):
            continue
        if password_rules.problem(password, email=email, name=name) is None:
            return password


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
    check_password_rule(password, email=email, name=name)
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


#: How a person signed in, as the evidence says: a password (single sign-on is ``oidc``,
#: quiz/sso.py).
PASSWORD = "password"

#: Why a sign-in was refused, as its record says (the person is never told which).
REFUSALS = {
    "wrong-password": "the password was wrong",
    "no-password-set": "the account has no password yet",
    "locked": "the account was locked after repeated failures",
    "deactivated": "the account is deactivated",
    "no-such-account": "no account has that email",
    "password-not-allowed": "the password was right, but passwords are off here (or for admins only): single sign-on",
}


@dataclass(frozen=True)
class PasswordCheck:
    """What ``check_password`` found, for ``record_sign_in`` to record."""

    at: datetime
    user_id: int | None = None  # the account the email names; None: no such account
    accepted: bool = False  # the right password, on an active account
    new_hash: str | None = field(default=None, repr=False)  # hashed again, when its hash has older parameters
    refused: str | None = "no-such-account"  # why not (REFUSALS), None when accepted
    typed_email: str | None = None  # for no such account: the email as typed, if it is an email address
    method: str = PASSWORD


def typed_address(typed: str) -> str | None:
    """The email typed at a refused sign-in, to be recorded, only if it is an email address:
    people type their password into the email field by mistake, and a password is never kept,
    not even hashed (a short one's hash is found again by trying guesses)."""
    address = typed.strip().lower()
    return address if len(address) <= 254 and EMAIL.match(address) else None


def check_password(session: Session, email: str, password: str) -> PasswordCheck:
    """The slow half of signing in (an Argon2id check, ~100 ms): only reads, so the caller can
    run it where no writer waits on it (docs/architecture.md, "Transactions"). An unknown email
    or a locked account costs the same time as a known one."""
    now = datetime.now(UTC)
    user = find_by_email(session, email)
    if user is None:
        _verify(_DUMMY_HASH, password)
        return PasswordCheck(now, typed_email=typed_address(email))
    user_id, active, stored_hash = user.id, user.active, user.password_hash
    locked_until = as_utc(user.locked_until)
    if locked_until and locked_until > now:
        _verify(_DUMMY_HASH, password)
        return PasswordCheck(now, user_id, refused="locked")
    right = _verify(stored_hash, password)
    new_hash = hash_password(password) if right and _hasher.check_needs_rehash(stored_hash) else None
    if right and active:
        refused = None
    elif stored_hash == NO_PASSWORD:
        refused = "no-password-set"
    else:
        refused = "wrong-password" if not right else "deactivated"
    return PasswordCheck(now, user_id, accepted=refused is None, new_hash=new_hash, refused=refused)


def record_sign_in(
    session: Session,
    check: PasswordCheck,
    policy: LockoutPolicy = LockoutPolicy(),
    *,
    session_id: str | None = None,
    second_factor: str | None = None,
) -> User | None:
    """The other half: the outcome kept on the account (the failure count and lockout, or their
    reset and a re-hashed password) and as evidence, a sign-in or a refused one (why, which the
    person is never told; for no such account, the email as typed if it is an email address).
    Only writes: a short writing transaction. The account is read again, locked, so that two
    failures at once count as two. ``session_id`` names the session begun, in its records;
    ``second_factor``, the second factor the sign-in took, when one was asked (quiz/mfa.py)."""
    details: dict = {"method": check.method}
    if check.user_id is None:
        evidence.append(
            session,
            "session.sign-in-refused",
            details={
                **details,
                "refused": "no-such-account",
                "email": check.typed_email,
                **({} if check.typed_email else {"email_not_kept": "what was typed is not an email address"}),
            },
        )
        return None
    user = session.get(User, check.user_id, populate_existing=True, with_for_update=True)
    if user is None:  # cannot happen (accounts are deactivated, never deleted): nothing to keep
        return None
    if check.refused == "locked":  # not counted: the lockout runs its course
        evidence.append(
            session,
            "session.sign-in-refused",
            user=user,
            details={
                **details,
                "refused": "locked",
                "locked_until": evidence.utc_timestamp(user.locked_until) if user.locked_until else None,
            },
        )
        return None
    if check.refused == "password-not-allowed":  # not counted: the password was right (quiz/sso.py)
        evidence.append(session, "session.sign-in-refused", user=user, details={**details, "refused": check.refused})
        return None
    if not check.accepted:
        user.failed_logins = (user.failed_logins or 0) + 1
        details.update(refused=check.refused, failures_in_a_row=user.failed_logins)
        if user.failed_logins >= policy.failures:
            user.locked_until = check.at + timedelta(minutes=policy.minutes)
            user.failed_logins = 0
            details["locked_until"] = evidence.utc_timestamp(user.locked_until)
        evidence.append(session, "session.sign-in-refused", user=user, details=details)
        return None
    user.failed_logins = 0
    user.locked_until = None
    if check.new_hash is not None:
        user.password_hash = check.new_hash
    evidence.append(
        session,
        "session.signed-in",
        user=user,
        details={
            **details,
            "session": session_id,
            "password_set_by_admin": bool(user.password_set_by_admin),
            "must_choose_a_new_password": bool(user.password_must_change),
            **({"second_factor": second_factor} if second_factor else {}),
        },
    )
    return user


def authenticate(
    session: Session,
    email: str,
    password: str,
    policy: LockoutPolicy = LockoutPolicy(),
    *,
    session_id: str | None = None,
) -> User | None:
    """The user if the password is right and the account usable; None otherwise, whatever the
    reason (the caller must not tell an attacker which part was wrong).

    ``check_password`` then ``record_sign_in``, on the session as given, in its transaction:
    nothing is committed here. The sign-in page runs the two halves itself, the check in a read
    transaction and the record in a short writing one, so sign-ins never queue behind each
    other's hashing.
    """
    return record_sign_in(session, check_password(session, email, password), policy, session_id=session_id)


def password_matches(user: User, password: str) -> bool:
    """Whether ``password`` is this account's (slow: Argon2id; read-only)."""
    return _verify(user.password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def end_all_sessions(user: User) -> None:
    """Every cookie issued before now stops working (logout, password change)."""
    user.session_version = (user.session_version or 0) + 1


def sign_out(session: Session, user: User, *, session_id: str | None) -> None:
    """They signed out: every session of the account ends, on every device, and it is recorded."""
    evidence.append(
        session,
        "session.signed-out",
        user=user,
        details={
            "how": "signed out",
            "session": session_id,
            "every_session_ended": True,
        },
    )
    end_all_sessions(user)


def timed_out(
    session: Session, user: User, *, session_id: str | None, last_request: datetime, idle_minutes: int
) -> None:
    """A session that ended at the idle limit, recorded when its cookie is next seen (a session
    whose browser never comes back ended all the same, unrecorded: nothing runs at the limit).
    The record's time is when it was seen; ``ended_at`` is when the limit ended it."""
    evidence.append(
        session,
        "session.signed-out",
        user=user,
        details={
            "how": "idle",
            "session": session_id,
            "idle_limit_minutes": idle_minutes,
            "last_request_at": evidence.utc_timestamp(last_request),
            "ended_at": evidence.utc_timestamp(last_request + timedelta(minutes=idle_minutes)),
        },
    )


def lifetime_ended(session: Session, user: User, *, session_id: str | None, began: datetime, max_hours: int) -> None:
    """A session that ended at its absolute lifetime (``SESSION_MAX_HOURS`` after it began,
    however busy it was), recorded as ``timed_out`` is: when its cookie is next seen."""
    evidence.append(
        session,
        "session.signed-out",
        user=user,
        details={
            "how": "lifetime",
            "session": session_id,
            "lifetime_hours": max_hours,
            "began_at": evidence.utc_timestamp(began),
            "ended_at": evidence.utc_timestamp(began + timedelta(hours=max_hours)),
        },
    )


#: Account roles by name, and what each opens, as an admin chooses between them. Everyone has
#: My training.
ROLE_NAMES = {
    "learner": "Learner",
    "manager": "Manager",
    "trainer": "Trainer",
    "compliance": "Compliance officer",
    "admin": "Admin",
}
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


#: The outbox kind of the email telling someone their password was set (Admin > Outbox).
NOTICE_KIND = "password-set"
#: ``OutboxMessage.error`` while a message waits for its hand-over to the SMTP server.
QUEUED = "queued: not yet handed to the SMTP server"


@dataclass(frozen=True)
class PasswordNotice:
    """The email telling a person that someone else set their password, kept in the outbox."""

    message_id: int
    to_address: str
    to_name: str
    subject: str
    body: str


def set_password(
    session: Session,
    user: User,
    password: NewPassword,
    *,
    by: User | str,
    temporary: bool = True,
    smtp: mailer.SmtpSettings | None = None,
    base_url: str = "http://127.0.0.1:5000",
) -> PasswordNotice:
    """Someone else sets ``user``'s password: an admin (their account) or the command line (in
    words, as for ``set_role``). Every session of theirs ends; the account is marked as having a
    password set by an admin, so a session begun with it is marked, and so is what is signed in
    it, until they choose their own; with ``temporary`` (the default) they must choose it before
    any other page opens. It is an evidence record (by whom; never the password), and they are
    told by email: kept in the outbox here, in this transaction, and handed to the SMTP server
    by ``send_password_notice`` once it is committed. The caller has read the account locked
    (one notice a day per person: a second set the same day sends that day's notice again)."""
    if isinstance(by, User) and by.id == user.id:
        raise AccountError("password", "Your own password is yours to choose: use Change password, beside Sign out.")
    who = by.email if isinstance(by, User) else by
    user.password_hash = password.hash
    user.password_set_by_admin = True
    user.password_must_change = temporary
    end_all_sessions(user)
    notice = _keep_notice(session, user, by, temporary, smtp, base_url)
    evidence.append(
        session,
        "person.password-set",
        user=user,
        details={
            "by": who,
            "temporary": temporary,
            "every_session_ended": True,
            "told": {"to": user.email, "outbox_message": notice.message_id},
        },
    )
    return notice


def _notice_words(user: User, by: User | str, temporary: bool, at: datetime, base_url: str) -> tuple[str, str]:
    who = (
        f"{by.name} ({by.email}), an administrator,"
        if isinstance(by, User)
        else "An administrator, on the server's command line,"
    )
    then = (
        "When you next sign in you will be asked to choose a new password of your own."
        if temporary
        else "Until you choose one of your own (Change password, beside Sign out), what you sign in Rounds is marked as signed with a password an administrator set."
    )
    lines = [
        f"Hello {user.name},",
        "",
        f"{who} set a new password for your Rounds account ({user.email}) on "
        f"{clock.local_text(at, clock.time_zone())}.",
        "Every session you had open was ended.",
        "",
        then,
        "",
        "If you did not ask for a new password, tell your compliance or privacy officer now: whoever",
        "knows it can sign in as you.",
        "",
        "This email never contains the password: the administrator gives it to you in person or by a",
        "channel you trust.",
        "",
        f"Sign in: {base_url.rstrip('/')}/auth/login",
    ]
    return "Rounds: an administrator set your password", "\n".join(lines) + "\n"


def _keep_notice(
    session: Session, user: User, by: User | str, temporary: bool, smtp: mailer.SmtpSettings | None, base_url: str
) -> PasswordNotice:
    at = utcnow()
    subject, body = _notice_words(user, by, temporary, at, base_url)
    today = at.date()
    row = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.to_address == user.email, OutboxMessage.kind == NOTICE_KIND, OutboxMessage.digest_day == today
        )
    )
    if row is None:
        row = OutboxMessage(to_user_id=user.id, to_address=user.email, kind=NOTICE_KIND, digest_day=today)
        session.add(row)
    row.subject, row.body, row.created_at = subject, body, at
    row.sent_at, row.transport, row.error = None, "outbox", QUEUED if smtp is not None else None
    session.flush()
    return PasswordNotice(row.id, user.email, user.name, subject, body)


def send_password_notice(
    session: Session,
    notice: PasswordNotice,
    smtp: mailer.SmtpSettings | None,
    *,
    steps: Steps | None = None,
    sender=mailer.send,
) -> str | None:
    """Hand the notice to the SMTP server, with no transaction open, then keep the outcome in
    the outbox (one step, ``steps`` as the caller's layer runs it). Returns None when it was
    sent or there is no SMTP server (it stays in the outbox to be read), else the server's
    error (it stays in the outbox with it)."""
    if smtp is None:
        return None
    steps = steps or Steps(session)
    error = None
    try:
        sender(
            mailer.build(
                sender=smtp.sender,
                to_address=notice.to_address,
                to_name=notice.to_name,
                subject=notice.subject,
                body=notice.body,
                message_id=f"<rounds-{NOTICE_KIND}-{notice.message_id}.{secrets.token_hex(4)}"
                f"@{mailer.sender_domain(smtp.sender)}>",
            ),
            smtp,
        )
    except mailer.FAILURES as exc:
        error = mailer.describe_failure(exc)
    with steps.write():
        row = session.get(OutboxMessage, notice.message_id)
        if row is not None:
            if error is None:
                row.sent_at, row.transport, row.error = utcnow(), "smtp", None
            else:
                row.error = error
    return error


def choose_own_password(
    session: Session, user: User, password: NewPassword, *, required: bool, session_id: str | None
) -> None:
    """The person chose their own password (signed in, in ``session_id``): it is no longer one
    an admin set, nothing more is required of them, their other sessions end, and it is an
    evidence record. ``required``: they had to, before any other page would open."""
    was_set_by_admin = bool(user.password_set_by_admin)
    user.password_hash = password.hash
    user.password_set_by_admin = False
    user.password_must_change = False
    end_all_sessions(user)
    evidence.append(
        session,
        "person.password-changed",
        user=user,
        details={
            "by": "themselves",
            "required": required,
            "replaced_a_password_set_by_an_admin": was_set_by_admin,
            "session": session_id,
            "other_sessions_ended": True,
        },
    )
