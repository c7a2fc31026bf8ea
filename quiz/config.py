"""Configuration from the environment, with safe defaults for a single-machine install.

Nothing secret lives in code: SECRET_KEY comes from the environment or is generated once into
the instance folder and kept there.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: How long after the idle limit a browser's return still finds (and records) its ended session.
IDLE_END_RECORDED_WITHIN = timedelta(hours=12)


def _secret_key(instance_path: Path, servers: int) -> str | None:
    env = os.environ.get("SECRET_KEY")
    if env:
        return env
    if servers > 1:
        return None  # each server would generate its own: create_app refuses to start
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        _create_secret_key(key_file)
    return key_file.read_text().strip()


def _create_secret_key(key_file: Path) -> None:
    """Write a new key whole under a temporary name, then link it into place: of several
    processes starting at once (gunicorn workers without ``--preload``) exactly one key wins,
    the others use it, and none ever reads a half-written file."""
    private_folder(key_file.parent)
    fd, temp = tempfile.mkstemp(dir=key_file.parent, prefix=".secret_key-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())  # an empty key after a power cut would stop every sign-in
        try:
            os.link(temp, key_file)
        except FileExistsError:
            pass  # another process made one first
    finally:
        os.unlink(temp)


def private_folder(path: Path) -> None:
    """Make ``path`` (with any missing parents) if it is not there: itself readable by its owner
    only (0700), whatever the umask. A folder that is already there is left as it is."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return
    os.chmod(path, 0o700)  # mkdir's mode goes through the umask


def private_sqlite_file(url: str) -> None:
    """Create a SQLite database file that is not there yet, empty (SQLite takes an empty file as
    a new database) and readable by its owner only (0600, whatever the umask). SQLite gives its
    -wal and -shm files the database file's mode, so they are private too."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):  # there already; or no such folder: SQLite says so
        return
    os.fchmod(fd, 0o600)
    os.close(fd)


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _count(name: str, default: int, *, minimum: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ValueError(f"{name} must be a whole number, at least {minimum}: not {value!r}")
    return number


class SeveralServersError(RuntimeError):
    """A setting that only works for one server, with SERVERS more than 1."""


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first by default); anything else stops the start."""
    value = (os.environ.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}: not {value!r}")
    return value


def check_several_servers(config: dict) -> None:
    """Refuse to start a server that would not behave as one with the others (SERVERS > 1):
    a session signed by one server must be good on every other, and a sign-in limit counted in
    one process's memory is not shared."""
    servers = config.get("SERVERS", 1)
    if not config.get("SECRET_KEY"):
        raise SeveralServersError(
            f"SERVERS is {servers} and SECRET_KEY is not set: each server would generate a key "
            "of its own and sign out everyone who reaches another server. Set the same SECRET_KEY "
            "(python -c 'import secrets; print(secrets.token_hex(32))') on every server "
            '(docs/deploy.md, "Several servers").'
        )
    if servers > 1 and not config.get("EVIDENCE_KEYS") and not Path(config.get("EVIDENCE_KEY_FILE") or "").is_file():
        raise SeveralServersError(
            f"SERVERS is {servers} and there is no evidence key file at {config.get('EVIDENCE_KEY_FILE')} "
            "nor EVIDENCE_KEYS: this server would make a key of its own, and its records would not verify on "
            "the others. Copy the key file from the first server, or set the same EVIDENCE_KEYS on every "
            "server (python -c 'import secrets; print(\"k1:\" + secrets.token_hex(32))'; "
            "docs/operations.md, \"The evidence key\")."
        )
    if servers > 1 and str(config.get("RATELIMIT_STORAGE_URI", "")).startswith("memory://"):
        raise SeveralServersError(
            f"SERVERS is {servers} and RATELIMIT_STORAGE_URI is memory://: each process would "
            "count sign-in failures for itself. Leave it unset (database://, the default) or set "
            'redis://... (docs/deploy.md, "Several servers").'
        )


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (SQLAlchemy would otherwise look for psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def from_environment(instance_path: Path) -> dict:
    """The settings Rounds reads; README.md documents each one."""
    database_url = os.environ.get("DATABASE_URL") or (f"sqlite:///{instance_path / 'rounds.sqlite3'}")
    idle_minutes = int(os.environ.get("SESSION_IDLE_MINUTES", "15"))
    https = _flag("HTTPS")
    servers = _count("SERVERS", 1, minimum=1)
    return {
        # How many app servers share this database behind a load balancer (docs/deploy.md,
        # "Several servers"). More than 1: SECRET_KEY must be set, and rate limits must be
        # counted where every server sees them (create_app checks both).
        "SERVERS": servers,
        "SECRET_KEY": _secret_key(instance_path, servers),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # The role that owns the tables, for `flask db upgrade` only (migrations/env.py).
        "MIGRATION_DATABASE_URI": os.environ.get("MIGRATION_DATABASE_URL") or None,
        "CONTENT_DIR": os.environ.get("CONTENT_DIR") or str(PROJECT_ROOT / "content"),
        # The organization's time zone (IANA name): the dates and times people read, and the day
        # that is "today" for what is due; the database and the evidence keep UTC.
        "TIME_ZONE": (os.environ.get("TIME_ZONE") or "UTC").strip(),
        "SESSION_IDLE_MINUTES": idle_minutes,
        # A session ends this long after it began, however busy (a long shift: 12 hours).
        "SESSION_MAX_HOURS": _count("SESSION_MAX_HOURS", 12, minimum=1),
        # The server ends a session at the idle limit (web/__init__.py, _end_idle_sessions); the
        # cookie lives on past it, so that the browser's next request finds the session ended
        # and it is recorded. Then the cookie is cleared.
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=idle_minutes) + IDLE_END_RECORDED_WITHIN,
        # The cookie is re-sent when the session changes: when its last request time moves on,
        # at most once a second (web/__init__.py).
        "SESSION_REFRESH_EACH_REQUEST": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": https,
        "REMEMBER_COOKIE_SECURE": https,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
        # How many reverse proxies stand in front (nginx: 1; a load balancer and nginx: 2): the
        # app trusts that many X-Forwarded-For/-Proto/-Host values (werkzeug's ProxyFix).
        # TRUST_PROXY=1, the older setting, means one.
        "PROXIES": _count("PROXIES", 1 if _flag("TRUST_PROXY") else 0, minimum=0),
        # database:// counts in the app's database, shared by every worker and server
        # (web/limits.py); redis://... in Redis; memory:// in each process (only if set).
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI") or "database://",
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # The Try page (web/author.py): checks a pasted file in a child process killed at this
        # limit, and counts each trainer's checks against the rate limit.
        "TRY_TIME_LIMIT_SECONDS": float(os.environ.get("TRY_TIME_LIMIT_SECONDS", "5")),
        "TRY_RATE_LIMIT": os.environ.get("TRY_RATE_LIMIT", "20 per minute"),
        # The public certificate check (web/check.py, GET /c/CODE): lookups per client address.
        "CERTIFICATE_CHECK_RATE_LIMIT": os.environ.get("CERTIFICATE_CHECK_RATE_LIMIT", "30 per minute"),
        "LOGIN_LOCKOUT_FAILURES": int(os.environ.get("LOGIN_LOCKOUT_FAILURES", "10")),
        "LOGIN_LOCKOUT_MINUTES": int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")),
        "CONTENT_REFRESH_SECONDS": float(os.environ.get("CONTENT_REFRESH_SECONDS", "2")),
        # Drafts (quiz/drafts.py): "second-person" (another trainer or a compliance officer
        # approves a draft before it is published) or "none".
        "CONTENT_APPROVAL": _choice("CONTENT_APPROVAL", ("second-person", "none")),
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,  # refuse huge uploads before reading them
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the (idle-limited) session
        # --- email reminders (quiz/reminders.py, quiz/mailer.py). No SMTP_HOST: outbox only.
        "SMTP_HOST": os.environ.get("SMTP_HOST", "").strip() or None,
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "587")),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        # On unless set to 0: a server that does not offer STARTTLS gets nothing (no cleartext).
        "SMTP_STARTTLS": _flag("SMTP_STARTTLS", default=True),
        "SMTP_FROM": os.environ.get("SMTP_FROM") or "Rounds <rounds@localhost>",
        "SMTP_TIMEOUT_SECONDS": float(os.environ.get("SMTP_TIMEOUT_SECONDS", "30")),
        "REMINDER_ESCALATE_AFTER_DAYS": int(os.environ.get("REMINDER_ESCALATE_AFTER_DAYS", "7")),
        "BASE_URL": (os.environ.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        # --- the evidence key and the anchor (quiz/evidence_keys.py, quiz/anchor.py;
        # docs/operations.md, "The evidence key" and "The anchor file").
        "EVIDENCE_KEYS": os.environ.get("EVIDENCE_KEYS") or None,
        "EVIDENCE_KEY_FILE": os.environ.get("EVIDENCE_KEY_FILE") or str(instance_path / "evidence-keys"),
        "EVIDENCE_ANCHOR_PATH": os.environ.get("EVIDENCE_ANCHOR_PATH") or str(instance_path / "evidence-anchor.log"),
        # --- the key that signs audit packages (quiz/package_signing.py; docs/operations.md,
        # "The signing key"): SIGNING_KEY, or the file (made 0600 if missing).
        "SIGNING_KEY": os.environ.get("SIGNING_KEY") or None,
        "SIGNING_KEY_FILE": os.environ.get("SIGNING_KEY_FILE") or str(instance_path / "signing-key"),
        # --- single sign-on, OpenID Connect (quiz/sso.py, web/oidc.py; docs/operations.md, "Single sign-on")
        "OIDC_ISSUER": os.environ.get("OIDC_ISSUER", "").strip() or None,
        "OIDC_CLIENT_ID": os.environ.get("OIDC_CLIENT_ID", "").strip() or None,
        "OIDC_CLIENT_SECRET": os.environ.get("OIDC_CLIENT_SECRET") or None,
        "OIDC_SCOPES": os.environ.get("OIDC_SCOPES") or "openid email profile",
        "OIDC_MATCH_CLAIM": os.environ.get("OIDC_MATCH_CLAIM") or "email",
        "OIDC_EMPLOYEE_ID_CLAIM": os.environ.get("OIDC_EMPLOYEE_ID_CLAIM") or "employee_id",
        "OIDC_CREATE_UNKNOWN": _flag("OIDC_CREATE_UNKNOWN"),
        "OIDC_NEW_PERSON_JOB_ROLE": os.environ.get("OIDC_NEW_PERSON_JOB_ROLE") or None,
        "OIDC_PROVIDER_NAME": os.environ.get("OIDC_PROVIDER_NAME") or "single sign-on",
        "OIDC_TIMEOUT_SECONDS": float(os.environ.get("OIDC_TIMEOUT_SECONDS", "10")),
        "LOCAL_PASSWORDS": os.environ.get("LOCAL_PASSWORDS") or "on",
        # --- second factor for privileged roles (quiz/mfa.py; docs/operations.md, "Second factor
        # (MFA)"): the account roles that must use one with a Rounds password (empty: nobody), and
        # how long a code typed opens the privileged pages before it is asked again.
        "MFA_ROLES": os.environ.get("MFA_ROLES", "admin,compliance,trainer"),
        "MFA_STEP_UP_MINUTES": _count("MFA_STEP_UP_MINUTES", 15, minimum=1),
        # --- invitations and password resets by email (quiz/invitations.py; docs/operations.md,
        # "Invitations and password resets"): how long a link works, and how often one address
        # may ask for a reset.
        "INVITATION_HOURS": _count("INVITATION_HOURS", 72, minimum=1),
        "RESET_HOURS": _count("RESET_HOURS", 1, minimum=1),
        # An admin's invitation of more people than this is recorded and left to the
        # ``users send-invitations`` job, which makes the invitations in batches.
        "INVITATIONS_IN_REQUEST": _count("INVITATIONS_IN_REQUEST", 200, minimum=0),
        "PASSWORD_RESET_RATE_LIMIT": os.environ.get("PASSWORD_RESET_RATE_LIMIT", "5 per minute; 20 per hour"),
        # --- xAPI out to a learning record store (quiz/xapi.py; docs/operations.md, "xAPI and a
        # learning record store"). No XAPI_LRS_URL: nothing is queued or sent.
        "XAPI_LRS_URL": os.environ.get("XAPI_LRS_URL", "").strip() or None,
        "XAPI_LRS_USERNAME": os.environ.get("XAPI_LRS_USERNAME") or None,
        "XAPI_LRS_PASSWORD": os.environ.get("XAPI_LRS_PASSWORD") or None,
        "XAPI_BATCH": _count("XAPI_BATCH", 50, minimum=1),
        "XAPI_TIMEOUT_SECONDS": float(os.environ.get("XAPI_TIMEOUT_SECONDS", "10")),
        # --- retention (quiz/retention.py; docs/operations.md, "Retention and legal hold"): how
        # long records are kept (at least 6 years: 45 CFR 164.530(j)), and the operational copies
        # that are not required records: outbox bodies and uploaded roster files, in days.
        "RETENTION_YEARS": _retention_years(),
        "RETENTION_OUTBOX_DAYS": _count("RETENTION_OUTBOX_DAYS", 90, minimum=1),
        "RETENTION_ROSTER_UPLOAD_DAYS": _count("RETENTION_ROSTER_UPLOAD_DAYS", 400, minimum=1),
    }


def _retention_years() -> int:
    """RETENTION_YEARS, never below HIPAA's six years (quiz/retention.py says why)."""
    from .retention import DEFAULT_YEARS, check_years

    value = os.environ.get("RETENTION_YEARS", "").strip()
    return check_years(value) if value else DEFAULT_YEARS
