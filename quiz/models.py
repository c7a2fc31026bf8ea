"""Tables. Behavior lives in the core modules (engine, evidence, accounts), not here."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, overload

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import db

if TYPE_CHECKING:
    # The type checker cannot follow the class Flask-SQLAlchemy builds for ``db.Model``; it is a
    # subclass of our declarative Base, so the checker reads the models as Base's.
    from .db import Base as Model
else:
    Model = db.Model

ACCOUNT_ROLES = ("learner", "manager", "trainer", "compliance", "admin")
PERSON_KINDS = ("employee", "contractor", "ba-staff")
#: How the roster shows each kind of person.
PERSON_KIND_LABELS = {"employee": "Employee", "contractor": "Contractor", "ba-staff": "Business associate staff"}
#: A password hash no password matches: people imported from HR sign in once an admin sets one.
NO_PASSWORD = "!"


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """A time read from the database as an aware datetime in UTC (None stays None).

    Every time is stored in UTC (``utcnow``), but SQLite hands it back without a zone and
    PostgreSQL in the connection's zone: this is the one place that says which it is.
    """
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class User(UserMixin, Model):
    __tablename__ = "users"
    __table_args__ = (Index("uq_users_employee_id", "employee_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="learner")
    job_role: Mapped[str] = mapped_column(String(40))
    specialty: Mapped[str | None] = mapped_column(String(40))
    department: Mapped[str | None] = mapped_column(String(120))
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Part of the session cookie's user id: bumping it ends every session of this user.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    #: The password in force was set by someone else (an admin in the browser, or the command
    #: line), not chosen by the person: a session begun with it is marked, and so is what is
    #: signed in it (accounts.set_password; cleared when they choose their own).
    password_set_by_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: They must choose a new password before they can use any other page (a temporary one).
    password_must_change: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # --- roster (HRIS) fields
    employee_id: Mapped[str | None] = mapped_column(String(64))
    hire_date: Mapped[date | None] = mapped_column(Date)
    work_state: Mapped[str | None] = mapped_column(String(2))
    person_kind: Mapped[str] = mapped_column(String(20), default="employee")
    vendor: Mapped[str | None] = mapped_column(String(200))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: When ``flask retention purge`` replaced their personal fields with a pseudonym (gone longer
    #: than the retention period; quiz/retention.py). The account stays for the records.
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    supervisor: Mapped[User | None] = relationship(remote_side=[id], foreign_keys=[supervisor_id])

    def get_id(self) -> str:  # Flask-Login: the cookie carries id and session version
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.active)


class ContentVersion(Model):
    """The exact source of every content version that evidence refers to (append-only)."""

    __tablename__ = "content_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of source
    kind: Mapped[str] = mapped_column(String(10))  # module | scenario
    content_id: Mapped[str] = mapped_column(String(120))
    specialty: Mapped[str | None] = mapped_column(String(40))
    path: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Attempt(Model):
    """One learner's walk through one version of a module.

    ``step`` is the attempt's state token: every state change bumps it, and every form carries
    the value it was rendered with, so a replayed, double-tapped or back-button submission is
    recognized as stale and changes nothing. It is also the row's version counter: every UPDATE
    of an attempt says ``WHERE step = <the step it was read with>``, so a change based on a
    read that another request has overtaken fails (StaleDataError) instead of overwriting it.
    """

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("user_id", "module_id", "number", name="uq_attempt_number"),
        # At most one unfinished attempt per learner and module, even under racing requests.
        Index(
            "uq_attempt_open",
            "user_id",
            "module_id",
            unique=True,
            sqlite_where=text("stage != 'finished'"),
            postgresql_where=text("stage != 'finished'"),
        ),
        # The code a signed attempt's certificate is checked by (quiz/certificate_codes.py).
        Index("uq_attempt_certificate_code", "certificate_code", unique=True),
        # A module's first attempts, read by its answer statistics and insights (quiz/answer_stats.py).
        Index("ix_attempts_module_number", "module_id", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    module_id: Mapped[str] = mapped_column(String(120))
    number: Mapped[int] = mapped_column(Integer)
    module_version: Mapped[str] = mapped_column(ForeignKey("content_versions.version"))
    policy_version: Mapped[str] = mapped_column(String(40))
    #: JSON list of the scenario versions this attempt walks, in order (variants fixed at start)
    scenario_versions: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(12), default="lesson")  # lesson|scenario|ending|finished
    screen: Mapped[int] = mapped_column(Integer, default=0)
    scenario_index: Mapped[int] = mapped_column(Integer, default=0)
    node_id: Mapped[str | None] = mapped_column(String(120))
    step: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_name: Mapped[str | None] = mapped_column(String(200))
    #: When the signature was also a state's signed statement of completion (Texas Health and
    #: Safety Code 181.101): the law and how long it is kept, in words (engine.acknowledge).
    signed_statement: Mapped[str | None] = mapped_column(Text)
    #: The acknowledgement was signed in a session that began with a password an admin set
    #: (engine.acknowledge): anyone who knew that password could have signed. None: signed
    #: before Rounds kept this.
    signed_in_with_admin_set_password: Mapped[bool | None] = mapped_column(Boolean)
    #: Secret to this attempt, never sent to the learner: it shuffles the choices at each
    #: decision and names them on the page (engine.choice_values), so what a learner posts
    #: says nothing about the file's order or which choice is right.
    #: (Nullable in the schema only because SQLite cannot add a NOT NULL column to a table
    #: others point at; migration 0003 gave every older attempt a key.)
    choice_key: Mapped[str] = mapped_column(String(32), nullable=True, default=lambda: secrets.token_hex(16))
    #: The certificate's public code (10 characters of Crockford's base32, stored without
    #: dashes), made when the attempt is signed; None until then (quiz/certificate_codes.py).
    certificate_code: Mapped[str | None] = mapped_column(String(10))
    #: The certificate was revoked (by a compliance officer or an admin, with a reason; the
    #: evidence record ``certificate.revoked`` says who). Never cleared.
    certificate_revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    certificate_revoked_reason: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship()
    answers: Mapped[list[Answer]] = relationship(
        back_populates="attempt", order_by="Answer.step", cascade="all, delete-orphan"
    )

    # The application bumps ``step`` itself; the ORM checks the old value on every UPDATE.
    __mapper_args__ = {"version_id_col": step, "version_id_generator": False}


class Answer(Model):
    """One choice made. Unique per (attempt, step): a second submission of a step cannot land."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("attempt_id", "step", name="uq_answer_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    scenario_index: Mapped[int] = mapped_column(Integer)
    scenario_id: Mapped[str] = mapped_column(String(120))
    scenario_version: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(120))
    objective: Mapped[str | None] = mapped_column(String(120))
    choice_number: Mapped[int] = mapped_column(Integer)
    to_node: Mapped[str] = mapped_column(String(120))
    first_visit: Mapped[bool] = mapped_column(Boolean)
    points: Mapped[int] = mapped_column(Integer)  # points awarded (0 on a revisit)
    correct: Mapped[bool] = mapped_column(Boolean)
    critical: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    attempt: Mapped[Attempt] = relationship(back_populates="answers")


class Evidence(Model):
    """The evidence log: append-only, hash-chained. Database triggers refuse UPDATE and DELETE.

    Times and details are stored as text exactly as hashed, so what is read back is byte for
    byte what was hashed, on any database.
    """

    __tablename__ = "evidence"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[str] = mapped_column(String(32))  # UTC, ISO 8601 with microseconds
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    learner_email: Mapped[str | None] = mapped_column(String(254))
    learner_name: Mapped[str | None] = mapped_column(String(200))
    job_role: Mapped[str | None] = mapped_column(String(40))
    department: Mapped[str | None] = mapped_column(String(120))
    supervisor: Mapped[str | None] = mapped_column(String(460))
    module_id: Mapped[str | None] = mapped_column(String(120), index=True)
    content_version: Mapped[str | None] = mapped_column(String(64))
    policy_version: Mapped[str | None] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(40))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The evidence key that MACed this record (quiz/evidence_keys.py), and the HMAC-SHA256 of its
    #: hash. None on records written before keys (migration 0007): verify says from which
    #: record on they are keyed. Not in the hash, which an auditor without the key still checks.
    key_id: Mapped[str | None] = mapped_column(String(40))
    mac: Mapped[str | None] = mapped_column(String(64))


ASSIGNMENT_REASONS = (
    "onboarding",
    "refresher",
    "objective-follow-up",
    "annual-refresher",
    "policy-change",
    "trigger-event",
    "manager-choice",
    "state-mandate",
)
ASSIGNMENT_STATES = ("open", "done", "overdue", "waived")


class Assignment(Model):
    """A person owes a module by a date, for a recorded reason."""

    __tablename__ = "assignments"
    __table_args__ = (
        # At most one open assignment per person and module (open or overdue: both are owed),
        # whoever creates it and however many jobs run at once (migration 0008).
        Index(
            "uq_assignment_open",
            "user_id",
            "module_id",
            unique=True,
            sqlite_where=text("state IN ('open', 'overdue')"),
            postgresql_where=text("state IN ('open', 'overdue')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    module_id: Mapped[str] = mapped_column(String(120), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)  # in words: "policy 1.0 -> 2.0", what was missed
    #: The objective id a missed-objective follow-up trains (reason "objective-follow-up").
    objective: Mapped[str | None] = mapped_column(String(120))
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the rules
    trigger_event_id: Mapped[int | None] = mapped_column(ForeignKey("trigger_events.id"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="open")
    waived_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])
    trigger_event: Mapped[TriggerEvent | None] = relationship(back_populates="assignments")

    @property
    def is_open(self) -> bool:
        return self.state in ("open", "overdue")


TRIGGER_KINDS = (
    "incident",
    "near-miss",
    "new-system",
    "policy-update",
    "audit-finding",
    "role-change",
    "new-hire-wave",
)


class TriggerEvent(Model):
    """Something that happened and the refreshers it called for."""

    __tablename__ = "trigger_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    occurred_on: Mapped[date] = mapped_column(Date)
    scope_kind: Mapped[str] = mapped_column(String(12))  # people | department | job-role
    scope_value: Mapped[str] = mapped_column(Text)  # JSON list of user ids, or the name
    module_ids: Mapped[str] = mapped_column(Text)  # JSON list
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    recorded_by: Mapped[User] = relationship()
    assignments: Mapped[list[Assignment]] = relationship(back_populates="trigger_event")


class RosterUpload(Model):
    """An uploaded HRIS export waiting for preview and apply (kept as the record of the import)."""

    __tablename__ = "roster_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the retention purge removed the file's contents (``content`` is then empty).
    content_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Model):
    """Every email Rounds sends or would send: with no SMTP configured it stays here to be read."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # digest | escalation
    digest_day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    transport: Mapped[str] = mapped_column(String(10))  # smtp | outbox
    error: Mapped[str | None] = mapped_column(Text)
    #: When the retention purge removed the body (``body`` is then empty; quiz/retention.py).
    body_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("to_address", "kind", "digest_day", name="uq_one_digest_a_day"),)


class RateLimitCounter(Model):
    """A request rate limit's counter for one key (an address and a limit) and its current
    window, shared by every worker and server (web/limits.py: RATELIMIT_STORAGE_URI=database://,
    the default). Kept outside the units of work: not evidence, and nothing to back up."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch


class JobLock(Model):
    """A daily job's run lock: one row per job name while a run holds it (``db.Steps.hold``).

    Claimed and given back each in a short transaction of its own, on both databases; kept
    alive while the run lasts and taken over once ``expires_at`` has passed (a run that died)."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))  # host, process and run
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MfaFactor(Model):
    """A person's second factor (quiz/mfa.py): one TOTP secret per account, encrypted with a key
    derived from the app's SECRET_KEY (never stored in the clear), and the last time step a code
    was accepted for, so that no code is taken twice. Deleted when an admin resets it."""

    __tablename__ = "mfa_factors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="totp")
    secret_encrypted: Mapped[str] = mapped_column(Text)
    last_step: Mapped[int | None] = mapped_column(Integer)
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MfaRecoveryCode(Model):
    """One of a person's one-time recovery codes, kept only as a keyed hash (quiz/mfa.py); used
    once (``used_at``). Renewing them deletes the old ones."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccessLink(Model):
    """A single-use link to set a password: an invitation (an admin's) or a reset (the person's).

    Only a keyed hash of the link's token is kept (quiz/invitations.py), and only once the email
    carrying it is handed to the SMTP server: a copy of the database, or a reader of the outbox,
    cannot use a link. It works once (``used_at``), until ``expires_at``, while it is the
    person's newest (``voided_at``: a newer link replaced it) and while their password is the one
    it was issued over (``password_fingerprint``: a password set any other way voids it)."""

    __tablename__ = "access_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(12))  # invitation | reset
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_fingerprint: Mapped[str] = mapped_column(String(64))
    issued_by: Mapped[str] = mapped_column(String(300))  # an admin's email, the command line, "themselves"
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvitationRequest(Model):
    """A person an admin asked to invite, waiting for the ``users send-invitations`` job
    (quiz/invitations.py, ``request_invitations``): a large invitation is recorded here in the
    admin's request and made by the job in batches. One row per person (a second request for
    them before the job runs adds nothing); the row goes when the person is invited."""

    __tablename__ = "invitation_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    asked_by: Mapped[str] = mapped_column(String(300))  # an admin's email, or the command line
    asked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the admin, if one
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


LEGAL_HOLD_SCOPES = ("person", "department", "everything")


class LegalHold(Model):
    """A legal hold (quiz/retention.py): while in force (not released), the retention purge
    removes nothing of the person, of the people in the department, or (everything) at all.
    Placing and releasing one are evidence records too."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(12))  # one of LEGAL_HOLD_SCOPES
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # scope "person"
    department: Mapped[str | None] = mapped_column(String(120))  # scope "department"
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(300))  # an admin's email, or the command line
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(300))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    release_reason: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User | None] = relationship()

    @property
    def in_force(self) -> bool:
        return self.released_at is None


class ContentDraft(Model):
    """A trainer's draft of one content file (quiz/drafts.py): learners never see it.

    ``path`` is the file it publishes to, relative to ``CONTENT_DIR`` (``modules/x.md``);
    ``base_version`` is the SHA-256 of that file's text when the draft began (None: a new file),
    so a publish can tell that someone changed the file since. ``status``: draft,
    awaiting-approval, approved, published, discarded. ``lock`` counts saves: every form carries
    it, and a change based on an older one is refused."""

    __tablename__ = "content_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # module | scenario
    content_id: Mapped[str] = mapped_column(String(120))
    path: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    base_version: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    lock: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User] = relationship(foreign_keys=[updated_by_id])
    events: Mapped[list[ContentDraftEvent]] = relationship(
        back_populates="draft", order_by="ContentDraftEvent.id", cascade="all, delete-orphan"
    )


class ContentDraftEvent(Model):
    """Who did what to a draft, and when: created, saved, checked, submitted, approved,
    published, discarded (``detail``: the text's SHA-256 then, the errors found, ...)."""

    __tablename__ = "content_draft_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("content_drafts.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    version: Mapped[str] = mapped_column(String(64))  # SHA-256 of the draft's text at the time
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    draft: Mapped[ContentDraft] = relationship(back_populates="events")
    user: Mapped[User] = relationship()


#: Who has ever signed in (invitations.select_people: only they are never invited), found without
#: reading each person's other records: the sign-ins alone, by person.
Index(
    "ix_evidence_signed_in",
    Evidence.user_id,
    sqlite_where=text("event = 'session.signed-in'"),
    postgresql_where=text("event = 'session.signed-in'"),
)


XAPI_STATES = ("queued", "sent", "refused", "skipped")


class XapiStatement(Model):
    """One evidence record as an xAPI statement, on its way to the learning record store
    (quiz/xapi.py): queued (to send at ``next_attempt_at``), sent, refused by the store (kept
    with its error until an admin retries it), or skipped (a record no statement can be made of,
    with the reason). One row per record: the record's sequence number and the statement's id,
    made from the record's hash, are each unique, so nothing is queued or sent twice."""

    __tablename__ = "xapi_outbox"
    __table_args__ = (
        UniqueConstraint("seq", name="uq_xapi_outbox_seq"),
        UniqueConstraint("statement_id", name="uq_xapi_outbox_statement_id"),
        Index("ix_xapi_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # the evidence record's
    statement_id: Mapped[str] = mapped_column(String(36))
    event: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(Integer)
    statement: Mapped[str] = mapped_column(Text)  # the statement as JSON, as sent
    state: Mapped[str] = mapped_column(String(10), default="queued")  # XAPI_STATES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
