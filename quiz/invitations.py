"""Invitations and password resets by email: single-use links that expire (no Flask).

After a roster import, people have no password (``models.NO_PASSWORD``). An admin invites the
ones who have never signed in (``select_people``, ``invite``); anyone may ask for a reset of a
forgotten password (``request_reset``). Each gets an email with a link to set a password, or,
where passwords are off for them (``LOCAL_PASSWORDS``), one saying to sign in with single
sign-on instead.

The links (``models.AccessLink``):

- **Made as the email goes out, kept only as a keyed hash.** The token is 32 random bytes
  (``secrets.token_urlsafe``), made in ``hand_over`` just before the message is handed to the
  SMTP server; the database keeps only its HMAC-SHA256 under a key derived from SECRET_KEY
  (``link_key``). The outbox keeps the message with a placeholder where the link was. So a copy
  of the database (a backup, a replica, a leaked dump) holds nothing that opens an account: not
  the token, and not even a hash that a guess could be checked against without SECRET_KEY.
  Without an SMTP server nothing could deliver a link, so nothing is invited.
- **Single use, short-lived, and only the newest.** Setting the password marks the link used in
  the same transaction (``use_link``); a link expires INVITATION_HOURS (invitations) or
  RESET_HOURS (resets) after it was asked for; a new link for a person voids their older unused
  ones; and a password set any other way (an admin, the command line, the person's own change)
  voids it too, because a link only works over the password it was issued over
  (``password_fingerprint``).
- **Opening a link uses nothing up** (``check_link`` only reads): mail scanners fetch links.

Messages are kept in the outbox in the caller's transaction; ``hand_over`` sends them in steps,
no transaction open while the SMTP server is talked to: for a reset, right after the response;
for invitations, the ``users send-invitations`` job (``send_invitations``), in batches.

A large invitation (more people than ``Settings.in_request``, INVITATIONS_IN_REQUEST) is not made
in the admin's request: ``request_invitations`` keeps one ``InvitationRequest`` row per person
(one at most: asking again before the job runs adds nothing) and an "invitations.requested"
record, and the job makes the invitations in batches (``invite_requested``), each person checked
again then (signed in or deactivated meanwhile: skipped), before handing them over.

Evidence: "person.invited" (by whom, how, until when), "person.password-reset-requested" (also
refused ones: an unknown address is recorded as typed, when it is an email address, as a refused
sign-in is), "person.password-set-by-link" (which link, every other session ended).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from . import accounts, evidence, jobs, mailer, sso
from .db import Steps
from .models import AccessLink, Evidence, InvitationRequest, OutboxMessage, User, as_utc, utcnow
from .words import ngettext

INVITATION = "invitation"
RESET = "reset"
#: The outbox kind of each purpose's email (Admin > Outbox).
OUTBOX_KINDS = {INVITATION: "invitation", RESET: "password-reset"}
#: Where the link goes in a message kept in the outbox: the link itself is never kept.
LINK_PLACEHOLDER = "[the link: made as this email was sent, and never kept]"
#: ``OutboxMessage.error`` while a message waits for its hand-over to the SMTP server.
QUEUED = accounts.QUEUED
#: A message that will not be sent says why, after this.
NOT_SENT = "not sent: "
#: Random bytes in a link's token.
TOKEN_BYTES = 32
#: Messages per writing step of ``hand_over`` (and people per writing block of an invitation).
BATCH = 100
#: A second reset asked for within this many minutes of the last sends nothing new: one address
#: cannot be flooded with email, whoever asks.
RESEND_MINUTES = 5
#: The evidence kind that says a person has signed in at least once (a password or single sign-on).
SIGNED_IN = "session.signed-in"
#: Accounts whose password set by link is not followed by signing them in: they sign in on the
#: sign-in page, where a second factor can be asked for.
SIGN_IN_AGAIN_ROLES = ("admin", "compliance", "trainer")


@dataclass(frozen=True)
class Settings:
    key: bytes = field(repr=False)  # HMAC key of the tokens' hashes (``link_key``)
    smtp: mailer.SmtpSettings | None = None
    base_url: str = "http://127.0.0.1:5000"
    invitation_hours: int = 72
    reset_hours: int = 1
    sso: sso.SsoSettings = field(default_factory=sso.SsoSettings)
    #: At most this many people are invited in an admin's request; more wait for the job.
    in_request: int = 200

    def hours(self, purpose: str) -> int:
        return self.invitation_hours if purpose == INVITATION else self.reset_hours


def link_key(secret_key: str | bytes) -> bytes:
    """The key of the tokens' hashes, derived from SECRET_KEY (for this one use). A new
    SECRET_KEY voids every link not yet used."""
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(secret, b"rounds: access links v1", hashlib.sha256).digest()


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    return Settings(
        key=link_key(config["SECRET_KEY"]),
        smtp=mailer.settings_from_config(config),
        base_url=(config.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        invitation_hours=int(config.get("INVITATION_HOURS") or 72),
        reset_hours=int(config.get("RESET_HOURS") or 1),
        sso=sso.settings_from(dict(config)),
        in_request=int(config.get("INVITATIONS_IN_REQUEST", 200)),
    )


def token_hash(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def fingerprint(user: User) -> str:
    """What a link remembers of the password it was issued over (a hash of its hash)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()


def link_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/auth/link?token={token}"


def passwords_allowed(settings: Settings, user: User) -> bool:
    return sso.password_allowed(settings.sso, user.role)


class InvitationError(ValueError):
    """Nothing can be invited (the message says why)."""


# --- who is invited --------------------------------------------------------------------------


def _has_signed_in():
    """Whether the person has a sign-in record. The kind is written into the SQL, not bound, so
    that both databases use the partial index ``ix_evidence_signed_in``."""
    return exists().where(Evidence.user_id == User.id, Evidence.event == literal_column(f"'{SIGNED_IN}'"))


@dataclass
class Selection:
    """The people an invitation is for, and those it skips."""

    to_invite: list[int] = field(default_factory=list)  # active, never signed in
    signed_in: int = 0  # skipped: they have signed in at least once
    inactive: int = 0  # skipped: deactivated


def select_people(
    session: Session, *, ids: Iterable[int] = (), department: str | None = None, everyone: bool = False
) -> Selection:
    """The people chosen (``ids``), everyone in ``department``, or ``everyone``: who among them
    is invited (active and never signed in: no "session.signed-in" record, whether with a
    password or single sign-on) and how many are skipped (one query)."""
    query = select(User.id, User.active, _has_signed_in().label("signed_in")).order_by(User.name, User.id)
    if everyone:
        pass
    elif department:
        query = query.where(User.department == department)
    else:
        chosen = sorted({int(i) for i in ids})
        if not chosen:
            raise InvitationError("Choose people to invite, a department, or everyone who has never signed in.")
        query = query.where(User.id.in_(chosen))
    selection = Selection()
    for user_id, active, signed_in in session.execute(query):
        if not active:
            selection.inactive += 1
        elif signed_in:
            selection.signed_in += 1
        else:
            selection.to_invite.append(user_id)
    return selection


# --- the links and their messages ------------------------------------------------------------


def _void_live_links(session: Session, user: User, at: datetime) -> int:
    live = session.scalars(
        select(AccessLink).where(
            AccessLink.user_id == user.id, AccessLink.used_at.is_(None), AccessLink.voided_at.is_(None)
        )
    ).all()
    for link in live:
        link.voided_at = at
    return len(live)


def _keep_message(session: Session, user: User, purpose: str, subject: str, body: str, at: datetime) -> OutboxMessage:
    """The message in the outbox, queued for ``hand_over`` (one row per address, kind and day:
    a second one the same day takes the first one's place)."""
    kind = OUTBOX_KINDS[purpose]
    today = at.date()
    row = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.to_address == user.email, OutboxMessage.kind == kind, OutboxMessage.digest_day == today
        )
    )
    if row is None:
        row = OutboxMessage(to_user_id=user.id, to_address=user.email, kind=kind, digest_day=today)
        session.add(row)
    row.subject, row.body, row.created_at = subject, body, at
    row.sent_at, row.transport, row.error = None, "outbox", QUEUED
    session.flush()
    return row


def _when(moment: datetime) -> str:
    return f"{as_utc(moment):%Y-%m-%d at %H:%M} UTC"


def _hours(n: int) -> str:
    return ngettext("%(num)d hour", "%(num)d hours", n)


def _invitation_words(user: User, by: User | str, settings: Settings, expires: datetime | None) -> tuple[str, str]:
    who = f"{by.name}, an administrator," if isinstance(by, User) else "An administrator"
    lines = [f"Hello {user.name},", "", f"{who} invited you to Rounds, where you take your workplace training.", ""]
    if expires is None:
        provider = settings.sso.provider_name
        lines += [
            f"You sign in with {provider}, with your organization's account: there is no Rounds",
            "password to set. Sign in here:",
            "",
            f"{settings.base_url}/auth/login",
        ]
    else:
        lines += [
            f"Your account is {user.email}. Choose your password here:",
            "",
            LINK_PLACEHOLDER,
            "",
            f"The link works once, for {_hours(settings.invitation_hours)}: until {_when(expires)}. If it has",
            f"expired, ask for a new one at {settings.base_url}/auth/forgot, or ask your administrator.",
        ]
    lines += ["", "If you did not expect this email, you can ignore it."]
    return "Rounds: your training account is ready", "\n".join(lines) + "\n"


def _reset_words(user: User, settings: Settings, at: datetime, expires: datetime | None) -> tuple[str, str]:
    lines = [
        f"Hello {user.name},",
        "",
        f"Someone asked to reset the password of your Rounds account ({user.email}) on {_when(at)}.",
        "",
    ]
    if expires is None:
        provider = settings.sso.provider_name
        lines += [
            f"You sign in to Rounds with {provider}, with your organization's account: there is no",
            f"Rounds password to reset. Sign in here: {settings.base_url}/auth/login",
            f"If you cannot sign in to {provider}, your organization's help desk can help.",
            "",
            "If you did not ask, you can ignore this email.",
        ]
    else:
        lines += [
            "Choose a new password here:",
            "",
            LINK_PLACEHOLDER,
            "",
            f"The link works once, for {_hours(settings.reset_hours)}: until {_when(expires)}. Setting a new",
            "password ends every session of yours.",
            "",
            "If you did not ask, ignore this email: your password stays as it is. If you get these",
            "emails without asking, tell your compliance or privacy officer.",
        ]
    return "Rounds: reset your password", "\n".join(lines) + "\n"


def _new_link(session: Session, user: User, purpose: str, issued_by: str, at: datetime, settings: Settings):
    link = AccessLink(
        user_id=user.id,
        purpose=purpose,
        password_fingerprint=fingerprint(user),
        issued_by=issued_by[:300],
        created_at=at,
        expires_at=at + timedelta(hours=settings.hours(purpose)),
    )
    session.add(link)
    return link


# --- invitations -----------------------------------------------------------------------------


@dataclass
class Invited:
    invited: int = 0  # messages kept in the outbox, to be sent
    with_link: int = 0  # of which with a link to set a password (the others: single sign-on)
    signed_in: int = 0  # skipped: signed in meanwhile
    inactive: int = 0  # skipped: deactivated meanwhile
    replaced: int = 0  # older unused links voided


def can_invite(settings: Settings) -> None:
    """InvitationError without an SMTP server: a link kept in the outbox for someone to pass on
    would be usable by whoever can read the database."""
    if settings.smtp is None:
        raise InvitationError(
            "Invitations are sent by email, and no SMTP server is set up (SMTP_HOST): nothing was sent. "
            "A link kept in the outbox could be used by anyone who can read the database. "
            "Set their passwords instead (Set password, on the roster)."
        )


def invite(session: Session, user_ids: Iterable[int], *, by: User | str, settings: Settings) -> Invited:
    """Invite these people, in the caller's (writing) transaction: for each one still active and
    still never signed in, their older links voided, a new one (or, where passwords are off for
    them, none: the email says to use single sign-on), the email kept in the outbox, queued for
    ``send_invitations``, and a "person.invited" record. Call it with a batch (``BATCH``) at a
    time. InvitationError, before anything is written, without an SMTP server."""
    can_invite(settings)
    ids = sorted({int(i) for i in user_ids})
    result = Invited()
    if not ids:
        return result
    # Invited now (or skipped now): a request waiting for the job is answered by this.
    session.execute(delete(InvitationRequest).where(InvitationRequest.user_id.in_(ids)))
    people = session.execute(
        select(User, _has_signed_in().label("signed_in"))
        .options(joinedload(User.supervisor))
        .where(User.id.in_(ids))
        .order_by(User.id)
        .with_for_update(of=User)
    ).all()
    who = by.email if isinstance(by, User) else by
    at = utcnow()
    chosen: list[User] = []
    for user, signed_in in people:
        if not user.active:
            result.inactive += 1
        elif signed_in:
            result.signed_in += 1
        else:
            chosen.append(user)
    if not chosen:
        return result
    # Set-based, a few statements for the whole batch (not a few per person): their live links
    # voided, today's outbox rows found, the new rows added and flushed together.
    with session.no_autoflush:
        live = session.scalars(
            select(AccessLink).where(
                AccessLink.user_id.in_([u.id for u in chosen]),
                AccessLink.used_at.is_(None),
                AccessLink.voided_at.is_(None),
            )
        ).all()
        for old in live:
            old.voided_at = at
        result.replaced += len(live)
        kind, today = OUTBOX_KINDS[INVITATION], at.date()
        kept = {
            row.to_address: row
            for row in session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.to_address.in_([u.email for u in chosen]),
                    OutboxMessage.kind == kind,
                    OutboxMessage.digest_day == today,
                )
            )
        }
        made: list[tuple[User, AccessLink | None, OutboxMessage]] = []
        for user in chosen:
            link = (
                _new_link(session, user, INVITATION, who, at, settings) if passwords_allowed(settings, user) else None
            )
            subject, body = _invitation_words(user, by, settings, link.expires_at if link else None)
            row = kept.get(user.email)
            if row is None:
                row = OutboxMessage(to_user_id=user.id, to_address=user.email, kind=kind, digest_day=today)
                session.add(row)
            row.subject, row.body, row.created_at = subject, body, at
            row.sent_at, row.transport, row.error = None, "outbox", QUEUED
            made.append((user, link, row))
    session.flush()  # their ids, for each other and the records
    for user, link, row in made:
        details: dict[str, Any] = {"by": who, "to": user.email, "outbox_message": row.id}
        if link is not None:
            link.outbox_message_id = row.id
            details.update(how="link", link=link.id, expires_at=evidence.utc_timestamp(link.expires_at))
            result.with_link += 1
        else:
            details.update(how="single sign-on")
        evidence.append(session, "person.invited", user=user, details=details)
        result.invited += 1
    session.flush()
    return result


# --- large invitations: asked for in the request, made by the job ---------------------------

#: Rows per statement when a large request is kept (4 values a row: far below SQLite's limit).
REQUEST_ROWS = 500


@dataclass
class Requested:
    waiting: int = 0  # people now waiting for the job because of this request
    already: int = 0  # people already waiting from an earlier request: not asked twice


def request_invitations(
    session: Session, user_ids: Iterable[int], *, by: User | str, settings: Settings, scope: Mapping[str, Any]
) -> Requested:
    """Ask the ``users send-invitations`` job to invite these people, in the caller's (writing)
    transaction: one ``InvitationRequest`` row per person not already waiting (a person waits
    once, whoever asks again), and an "invitations.requested" record (who, ``scope``: what was
    chosen and how many were skipped, and how many people). Nothing is invited here; the job
    checks each person again when it invites them. InvitationError without an SMTP server."""
    can_invite(settings)
    ids = sorted({int(i) for i in user_ids})
    who = by.email if isinstance(by, User) else by
    by_id = by.id if isinstance(by, User) else None
    at = utcnow()
    # INSERT ... ON CONFLICT DO NOTHING on both databases: two admins asking at once both keep
    # their record, and each person waits once.
    insert: Any = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = Requested()
    for start in range(0, len(ids), REQUEST_ROWS):
        chunk = ids[start : start + REQUEST_ROWS]
        rows = [{"user_id": i, "asked_by": who[:300], "asked_by_id": by_id, "asked_at": at} for i in chunk]
        statement = insert(InvitationRequest).values(rows).on_conflict_do_nothing(index_elements=["user_id"])
        added = len(session.execute(statement.returning(InvitationRequest.user_id)).all())
        result.waiting += added
        result.already += len(chunk) - added
    evidence.append(
        session,
        "invitations.requested",
        details={
            "by": who,
            "scope": dict(scope),
            "people": len(ids),
            "waiting": result.waiting,
            "already_waiting": result.already,
            "made_by": "users send-invitations",
        },
    )
    return result


def invite_requested(session: Session, settings: Settings, *, steps: Steps | None = None) -> Invited:
    """The invitations asked for by ``request_invitations``, oldest first, ``BATCH`` people per
    writing step (``invite``, which removes each person's request and checks them again: people
    who signed in or were deactivated meanwhile are skipped). Nothing without an SMTP server:
    the requests wait."""
    steps = steps or Steps(session)
    total = Invited()
    if settings.smtp is None:
        return total
    while True:
        with steps.write():
            rows = session.execute(
                select(InvitationRequest.user_id, InvitationRequest.asked_by, InvitationRequest.asked_by_id)
                .order_by(InvitationRequest.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            by_whom: dict[tuple[str, int | None], list[int]] = {}
            for user_id, asked_by, asked_by_id in rows:
                by_whom.setdefault((asked_by, asked_by_id), []).append(user_id)
            for (asked_by, asked_by_id), ids in by_whom.items():
                admin = session.get(User, asked_by_id) if asked_by_id is not None else None
                done = invite(session, ids, by=admin if admin is not None else asked_by, settings=settings)
                for name in ("invited", "with_link", "signed_in", "inactive", "replaced"):
                    setattr(total, name, getattr(total, name) + getattr(done, name))
    return total


# --- resets ----------------------------------------------------------------------------------


def request_reset(session: Session, typed_email: str, settings: Settings) -> int | None:
    """Someone asked for a password reset for ``typed_email``, in the caller's (writing)
    transaction; the caller says the same thing whatever happens here. Always a
    "person.password-reset-requested" record: for an unknown address the address as typed (if it
    is an email address: ``accounts.typed_address``), as for a refused sign-in. A reset email is
    kept in the outbox only for an active account, when there is an SMTP server, and when none was
    asked for within RESEND_MINUTES: with a link, or, where passwords are off for them, saying to
    use single sign-on. Returns the outbox message to ``hand_over``, or None."""
    at = utcnow()
    user = accounts.find_by_email(session, typed_email)
    if user is None:
        typed = accounts.typed_address(typed_email)
        evidence.append(
            session,
            "person.password-reset-requested",
            details={
                "refused": "no-such-account",
                "email": typed,
                **({} if typed else {"email_not_kept": "what was typed is not an email address"}),
            },
        )
        return None
    user = session.get(User, user.id, populate_existing=True, with_for_update=True)
    assert user is not None
    not_sent = None
    if not user.active:
        not_sent = "deactivated"
    elif settings.smtp is None:
        not_sent = "no-smtp-server"
    else:
        recent = session.scalar(
            select(AccessLink.id).where(
                AccessLink.user_id == user.id,
                AccessLink.purpose == RESET,
                AccessLink.created_at > at - timedelta(minutes=RESEND_MINUTES),
            )
        ) or session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.to_address == user.email,
                OutboxMessage.kind == OUTBOX_KINDS[RESET],
                OutboxMessage.created_at > at - timedelta(minutes=RESEND_MINUTES),
            )
        )
        if recent is not None:
            not_sent = "asked-again-within-minutes"
    if not_sent is not None:
        details: dict[str, Any] = {"refused": not_sent}
        if not_sent == "asked-again-within-minutes":
            details["minutes"] = RESEND_MINUTES
        evidence.append(session, "person.password-reset-requested", user=user, details=details)
        return None
    link = None
    if passwords_allowed(settings, user):
        replaced = _void_live_links(session, user, at)
        link = _new_link(session, user, RESET, "themselves", at, settings)
    else:
        replaced = 0
    subject, body = _reset_words(user, settings, at, link.expires_at if link else None)
    row = _keep_message(session, user, RESET, subject, body, at)
    details = {"to": user.email, "outbox_message": row.id}
    if link is not None:
        link.outbox_message_id = row.id
        session.flush()
        details.update(
            how="link", link=link.id, expires_at=evidence.utc_timestamp(link.expires_at), older_links_voided=replaced
        )
    else:
        details.update(how="single sign-on")
    evidence.append(session, "person.password-reset-requested", user=user, details=details)
    return row.id


# --- handing messages to the SMTP server ----------------------------------------------------


@dataclass
class HandOver:
    sent: int = 0
    failed: int = 0
    dropped: int = 0  # their link was used, replaced or expired before they went: not sent
    made: Invited | None = None  # the invitations asked for earlier, made by this run

    def __str__(self) -> str:
        said = f"{self.sent} sent by SMTP, {self.failed} failed, {self.dropped} not sent (their link no longer works)"
        if self.made is None or not (self.made.invited or self.made.signed_in or self.made.inactive):
            return said
        made = ngettext(
            "%(num)d person invited as asked earlier",
            "%(num)d people invited as asked earlier",
            self.made.invited,
        )
        return made + f" (skipped {self.made.signed_in} signed in, {self.made.inactive} deactivated since); " + said


Sender = Callable[[Any, mailer.SmtpSettings], None]


def _live_link(session: Session, row: OutboxMessage, at: datetime) -> tuple[AccessLink | None, str | None]:
    """The link a queued message carries, or why it no longer has one."""
    link = session.scalar(
        select(AccessLink)
        .where(AccessLink.outbox_message_id == row.id)
        .order_by(AccessLink.id.desc())
        .limit(1)
        .with_for_update()
    )
    if link is None:
        return None, "its link is gone"
    user = session.get(User, link.user_id)
    problem = _problem(link, user, None, at)
    return (link, None) if problem is None else (None, PROBLEMS[problem])


def hand_over(
    session: Session,
    message_ids: Iterable[int],
    settings: Settings,
    *,
    steps: Steps | None = None,
    sender: Sender = mailer.send,
) -> HandOver:
    """Send these queued messages, ``BATCH`` at a time: a short write makes each one's token and
    keeps its hash (its link's ``token_hash``; the outbox keeps the placeholder), the messages
    are handed to the SMTP server with no transaction open, and a second short write keeps each
    outcome. A message whose link was used, replaced or has expired is not sent (the outbox says
    why). Nothing here commits: ``steps`` runs each step as the caller's layer decides."""
    steps = steps or Steps(session)
    result = HandOver()
    ids = list(dict.fromkeys(int(i) for i in message_ids))
    if settings.smtp is None:
        return result
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        ready: list[tuple[int, str, str | None, str, str, str]] = []
        with steps.write():
            at = utcnow()
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.id.in_(batch), OutboxMessage.sent_at.is_(None), OutboxMessage.error == QUEUED)
                .order_by(OutboxMessage.id)
                .with_for_update()
            ).all()
            for row in rows:
                body = row.body
                if LINK_PLACEHOLDER in body:
                    link, why = _live_link(session, row, at)
                    if link is None:
                        row.error = f"{NOT_SENT}{why}"
                        result.dropped += 1
                        continue
                    token = secrets.token_urlsafe(TOKEN_BYTES)
                    link.token_hash = token_hash(settings.key, token)
                    link.sent_at = at
                    body = body.replace(LINK_PLACEHOLDER, link_url(settings, token))
                person = session.get(User, row.to_user_id) if row.to_user_id else None
                ready.append((row.id, row.to_address, person.name if person else None, row.subject, body, row.kind))
                # (still QUEUED: a crash before its outcome is kept leaves it for the next run,
                # which makes it a new token; the hash kept here is then replaced)
        outcomes: list[tuple[int, str | None]] = []
        for message_id, address, name, subject, body, kind in ready:
            try:
                sender(
                    mailer.build(
                        sender=settings.smtp.sender,
                        to_address=address,
                        to_name=name,
                        subject=subject,
                        body=body,
                        message_id=f"<rounds-{kind}-{message_id}.{secrets.token_hex(4)}"
                        f"@{mailer.sender_domain(settings.smtp.sender)}>",
                    ),
                    settings.smtp,
                )
                outcomes.append((message_id, None))
            except mailer.FAILURES as exc:
                outcomes.append((message_id, mailer.describe_failure(exc)))
        if outcomes:
            with steps.write():
                for message_id, error in outcomes:
                    kept = session.get(OutboxMessage, message_id)
                    if kept is None:
                        continue
                    if error is None:
                        kept.sent_at, kept.transport, kept.error = utcnow(), "smtp", None
                        result.sent += 1
                    else:
                        kept.error = error
                        result.failed += 1
    return result


def send_invitations(
    session: Session,
    settings: Settings,
    *,
    steps: Steps | None = None,
    sender: Sender = mailer.send,
    make_requested: bool = True,
) -> HandOver:
    """The ``users send-invitations`` job: first the invitations asked for and left to it
    (``invite_requested``), then every queued invitation, oldest first, handed to the SMTP
    server in batches (``hand_over``). One run at a time (the run lock ``invitations``).
    ``make_requested=False`` (a few invitations sent right after an admin's page) only sends:
    the requests left to the job wait for it."""
    steps = steps or Steps(session)
    with jobs.exclusive_run(session, "invitations", "users send-invitations", steps):
        made = invite_requested(session, settings, steps=steps) if make_requested else None
        with steps.read():
            ids = list(
                session.scalars(
                    select(OutboxMessage.id)
                    .where(
                        OutboxMessage.kind == OUTBOX_KINDS[INVITATION],
                        OutboxMessage.sent_at.is_(None),
                        OutboxMessage.error == QUEUED,
                    )
                    .order_by(OutboxMessage.id)
                )
            )
        result = hand_over(session, ids, settings, steps=steps, sender=sender)
        result.made = made
        return result


# --- opening and using a link ----------------------------------------------------------------

#: Why a link does not work, as the person is told.
PROBLEMS = {
    "unknown": "This link does not work: it may have been copied incompletely.",
    "used": "This link was already used: it works once.",
    "replaced": "A newer link was sent since this one: use the newest email.",
    "expired": "This link has expired.",
    "password-changed": "The password was set another way since this link was sent, so the link no longer works.",
    "deactivated": "This account is deactivated.",
    "passwords-off": "Passwords are off for this account: sign in with single sign-on.",
}
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def _problem(link: AccessLink, user: User | None, settings: Settings | None, at: datetime) -> str | None:
    if link.used_at is not None:
        return "used"
    if link.voided_at is not None:
        return "replaced"
    if as_utc(link.expires_at) <= at:
        return "expired"
    if user is None or not user.active:
        return "deactivated"
    if fingerprint(user) != link.password_fingerprint:
        return "password-changed"
    if settings is not None and not passwords_allowed(settings, user):
        return "passwords-off"
    return None


@dataclass(frozen=True)
class LinkCheck:
    """What a link opens, or why it does not (``problem``, a key of PROBLEMS)."""

    problem: str | None
    link_id: int | None = None
    purpose: str | None = None
    name: str | None = None
    email: str | None = None
    role: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _find(session: Session, token: str, settings: Settings, *, lock: bool) -> AccessLink | None:
    if not token or not _TOKEN.match(token):
        return None
    query = select(AccessLink).where(AccessLink.token_hash == token_hash(settings.key, token))
    return session.scalar(query.with_for_update() if lock else query)


def check_link(session: Session, token: str, settings: Settings) -> LinkCheck:
    """Whether ``token`` opens a link that works, and for whom. Only reads: opening a link (a
    mail scanner fetching it, say) uses nothing up."""
    link = _find(session, token, settings, lock=False)
    if link is None:
        return LinkCheck("unknown")
    user = session.get(User, link.user_id)
    problem = _problem(link, user, settings, utcnow())
    if user is None:
        return LinkCheck(problem, link.id, link.purpose)
    return LinkCheck(problem, link.id, link.purpose, user.name, user.email, user.role)


class LinkError(ValueError):
    def __init__(self, problem: str):
        super().__init__(PROBLEMS[problem])
        self.problem = problem


def use_link(
    session: Session, token: str, password: accounts.NewPassword, settings: Settings, *, session_id: str | None = None
) -> User:
    """Set the password of the link's account, in the caller's (writing) transaction: the link
    and the account read again, locked, and checked again (LinkError, nothing changed); the link
    used and the person's other unused links voided; the password theirs (not one an admin set,
    nothing more to choose), the account unlocked, every session of theirs ended; and a
    "person.password-set-by-link" record. ``session_id``: the session begun with it, if any."""
    link = _find(session, token, settings, lock=True)
    if link is None:
        raise LinkError("unknown")
    user = session.get(User, link.user_id, populate_existing=True, with_for_update=True)
    at = utcnow()
    problem = _problem(link, user, settings, at)
    if problem is not None:
        raise LinkError(problem)
    assert user is not None
    link.used_at = at
    others = _void_live_links(session, user, at)
    user.password_hash = password.hash
    user.password_set_by_admin = False
    user.password_must_change = False
    user.failed_logins = 0
    user.locked_until = None
    accounts.end_all_sessions(user)
    evidence.append(
        session,
        "person.password-set-by-link",
        user=user,
        details={
            "link": link.id,
            "purpose": link.purpose,
            "issued_by": link.issued_by,
            "issued_at": evidence.utc_timestamp(link.created_at),
            "expires_at": evidence.utc_timestamp(link.expires_at),
            "other_links_voided": others,
            "every_other_session_ended": True,
            "session": session_id,
        },
    )
    return user


def signs_in_directly(user: User | LinkCheck) -> bool:
    """Whether setting a password by link also signs the person in (learners and managers), or
    sends them to the sign-in page (admins, compliance officers, trainers: where a second factor
    can be asked for)."""
    return user.role not in SIGN_IN_AGAIN_ROLES
