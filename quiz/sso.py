"""Single sign-on with OpenID Connect: the rules, without the protocol.

The web layer (``quiz/web/sso.py``) runs the authorization code flow with Authlib, which checks
the provider's answer: state, PKCE, the ID token's signature against the provider's JWKS, its
issuer, audience, expiry and nonce. What it hands here is the ID token's claims, already checked.
This module decides who that is in Rounds:

- a person is matched to a roster account by one configured claim: their email (``email``), or
  their employee id (a claim whose name is configured, as each provider names it differently);
- nobody signs in who is not on the roster and active: an unknown person is refused (and no
  account is made) unless the deployment says otherwise, and then they are made a learner, never
  with a role from a claim: the account role always comes from Rounds;
- each sign-in, and each refused one, is an evidence record with the method ``oidc``, as for a
  password (``accounts.record_sign_in``).

And the rule for local passwords beside it: on, off, or for admins only (a break-glass account).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import accounts, evidence
from .content import JOB_ROLES
from .models import NO_PASSWORD, User

#: The sign-in method the evidence names.
OIDC = "oidc"
#: How people are matched to roster accounts.
MATCH_BY = ("email", "employee_id")
#: Whether the sign-in form's passwords are taken: by everyone, nobody, or admins only.
LOCAL_PASSWORDS = ("on", "off", "admins")

#: Why a single sign-on was refused, as its record says (the person is told only that they could
#: not be signed in, and to ask their administrator).
REFUSALS = {
    "no-such-account": "nobody on the roster has that email or employee id",
    "deactivated": "the account is deactivated",
    "claim-missing": "the identity provider sent no value for the claim people are matched by",
    "email-not-verified": "the identity provider says the email address is not verified",
    "provider-answer-refused": "the identity provider's answer failed a check (state, signature, audience, expiry, nonce)",
    "provider-error": "the identity provider answered with an error, or could not be reached",
}


class SsoConfigError(ValueError):
    """A setting that cannot work, named, for the server to refuse to start with."""


@dataclass(frozen=True)
class SsoSettings:
    """What a deployment configured (README.md, "Configuration"; docs/operations.md, "Single
    sign-on"). ``enabled`` when an issuer and a client id are set."""

    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scopes: str = "openid email profile"
    match_by: str = "email"
    employee_id_claim: str = "employee_id"
    local_passwords: str = "on"
    create_unknown: bool = False
    new_person_job_role: str | None = None
    provider_name: str = "single sign-on"

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)

    @property
    def discovery_url(self) -> str:
        """The provider's discovery document: ``OIDC_ISSUER`` may be the issuer or that URL."""
        assert self.issuer
        if self.issuer.rstrip("/").endswith("/.well-known/openid-configuration"):
            return self.issuer.rstrip("/")
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def claim(self) -> str:
        """The name of the claim people are matched by."""
        return "email" if self.match_by == "email" else self.employee_id_claim


def settings_from(config: dict[str, Any]) -> SsoSettings:
    """The settings from the app's config, checked: a bad one stops the server with a message
    naming it, rather than leaving nobody able to sign in."""
    scopes = " ".join((config.get("OIDC_SCOPES") or "openid email profile").split())
    settings = SsoSettings(
        issuer=config.get("OIDC_ISSUER") or None,
        client_id=config.get("OIDC_CLIENT_ID") or None,
        client_secret=config.get("OIDC_CLIENT_SECRET") or None,
        scopes=scopes,
        match_by=(config.get("OIDC_MATCH_CLAIM") or "email").strip().lower().replace("-", "_"),
        employee_id_claim=(config.get("OIDC_EMPLOYEE_ID_CLAIM") or "employee_id").strip(),
        local_passwords=(config.get("LOCAL_PASSWORDS") or "on").strip().lower(),
        create_unknown=bool(config.get("OIDC_CREATE_UNKNOWN", False)),
        new_person_job_role=config.get("OIDC_NEW_PERSON_JOB_ROLE") or None,
        provider_name=(config.get("OIDC_PROVIDER_NAME") or "single sign-on").strip(),
    )
    if settings.match_by not in MATCH_BY:
        raise SsoConfigError(f"OIDC_MATCH_CLAIM must be one of {', '.join(MATCH_BY)}, not {settings.match_by!r}")
    if settings.local_passwords not in LOCAL_PASSWORDS:
        raise SsoConfigError(
            f"LOCAL_PASSWORDS must be one of {', '.join(LOCAL_PASSWORDS)}, not {settings.local_passwords!r}"
        )
    if bool(settings.issuer) != bool(settings.client_id):
        raise SsoConfigError("single sign-on needs both OIDC_ISSUER and OIDC_CLIENT_ID (or neither)")
    if settings.local_passwords != "on" and not settings.enabled:
        raise SsoConfigError(
            f"LOCAL_PASSWORDS={settings.local_passwords} needs single sign-on (OIDC_ISSUER and OIDC_CLIENT_ID): "
            "otherwise nobody could sign in"
        )
    if settings.enabled and "openid" not in scopes.split():
        raise SsoConfigError(f"OIDC_SCOPES must include openid (it is {scopes!r})")
    if settings.create_unknown:
        if settings.match_by != "email":
            raise SsoConfigError("OIDC_CREATE_UNKNOWN needs OIDC_MATCH_CLAIM=email (an account needs an email)")
        if settings.new_person_job_role not in JOB_ROLES:
            raise SsoConfigError(
                "OIDC_CREATE_UNKNOWN needs OIDC_NEW_PERSON_JOB_ROLE, the job role given to people it creates: "
                f"one of {', '.join(JOB_ROLES)}"
            )
    return settings


def password_allowed(settings: SsoSettings, role: str) -> bool:
    """Whether an account of ``role`` may sign in with a password here."""
    return settings.local_passwords == "on" or (settings.local_passwords == "admins" and role == "admin")


def limit_password(session: Session, check: accounts.PasswordCheck, settings: SsoSettings) -> accounts.PasswordCheck:
    """A password sign-in that was right but that passwords are not for here (they are off, or
    for admins only and this is not an admin) is refused, recorded as such and not counted as a
    failure (the password was right)."""
    if not check.accepted or check.user_id is None:
        return check
    user = session.get(User, check.user_id)
    if user is not None and password_allowed(settings, user.role):
        return check
    return replace(check, accepted=False, refused="password-not-allowed", new_hash=None)


@dataclass(frozen=True)
class ClaimCheck:
    """Who the provider's checked claims name on the roster, for ``record_sign_in``."""

    at: datetime
    issuer: str
    subject: str
    matched_by: str  # the claim's name
    value: str | None  # the claim's value (an email or an employee id), None when it was missing
    user_id: int | None = None
    refused: str | None = "no-such-account"  # REFUSALS, None when accepted
    create: bool = False  # no account, and the deployment makes one
    name: str | None = None  # for an account made: the name claim

    @property
    def accepted(self) -> bool:
        return self.refused is None


def _claim_text(value: Any) -> str | None:
    if isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip()
        return text[:254] or None
    return None


def find_account(session: Session, claims: dict[str, Any], settings: SsoSettings) -> ClaimCheck:
    """Match checked ID token claims to a roster account (only reads). The role is never read
    from a claim."""
    value = _claim_text(claims.get(settings.claim))

    def found(refused: str | None, user_id: int | None = None, **more: Any) -> ClaimCheck:
        return ClaimCheck(
            at=datetime.now(UTC),
            issuer=str(claims.get("iss", "")),
            subject=str(claims.get("sub", "")),
            matched_by=settings.claim,
            value=value,
            user_id=user_id,
            refused=refused,
            **more,
        )

    if value is None:
        return found("claim-missing")
    if settings.match_by == "email":
        value = value.lower()
        if claims.get("email_verified") is False:  # absent is taken as verified: Entra ID sends none
            return found("email-not-verified")
        user = session.scalar(select(User).where(func.lower(User.email) == value))
    else:
        user = session.scalar(select(User).where(User.employee_id == value))
    if user is None:
        if settings.create_unknown and accounts.EMAIL.match(value):
            return found(None, create=True, name=(_claim_text(claims.get("name")) or value)[:200])
        return found("no-such-account")
    return found(None if user.active else "deactivated", user.id)


def record_sign_in(
    session: Session, check: ClaimCheck, settings: SsoSettings, *, session_id: str | None = None
) -> User | None:
    """Keep the outcome (only writes: a short writing transaction): a sign-in, or a refused
    one, as evidence with the method ``oidc``; for an unknown person the deployment lets in, the
    account made first (a learner with no password), itself a record. The account is read again,
    locked: deactivated since the check, it is refused."""
    details: dict[str, Any] = {
        "method": OIDC,
        "issuer": check.issuer,
        "subject": check.subject,
        "matched_by": check.matched_by,
    }
    user: User | None = None
    if check.create:
        user = _create_once(session, check, settings)
    elif check.user_id is not None:
        user = session.get(User, check.user_id, populate_existing=True, with_for_update=True)
    refused = check.refused
    if refused is None and (user is None or not user.active):
        refused = "deactivated" if user is not None else "no-such-account"
    if refused is not None:
        evidence.append(
            session,
            "session.sign-in-refused",
            user=user,
            details={
                **details,
                "refused": refused,
                **({} if user is not None else {check.matched_by: check.value}),
            },
        )
        return None
    assert user is not None
    evidence.append(
        session,
        "session.signed-in",
        user=user,
        details={
            **details,
            "session": session_id,
            "password_set_by_admin": False,
            "must_choose_a_new_password": False,
        },
    )
    return user


def refuse(session: Session, settings: SsoSettings, reason: str, error: str) -> None:
    """A sign-in the provider's answer did not let through (nobody is named yet): recorded,
    with the check that failed, as Authlib named it."""
    evidence.append(
        session,
        "session.sign-in-refused",
        details={
            "method": OIDC,
            "issuer": settings.issuer,
            "refused": reason,
            "error": error[:300],
        },
    )


def _create_once(session: Session, check: ClaimCheck, settings: SsoSettings) -> User:
    """The account for an unknown person the deployment lets in, made once: if it was made since
    the check (the same person signing in from two tabs at once, or an import), that account is
    the one signed in. Two servers making it at the same moment both try; the database's unique
    email lets one through, and the other, in a savepoint, takes the account the first made."""
    assert check.value
    existing = accounts.find_by_email(session, check.value)
    if existing is None:
        try:
            with session.begin_nested():  # (only the row: evidence is never appended in a savepoint)
                user = _new_learner(session, check, settings)
        except IntegrityError:  # made meanwhile by another request (its transaction has committed)
            existing = accounts.find_by_email(session, check.value)
            if existing is None:
                raise
        else:
            _record_created(session, user, check)
            return user
    return session.get_one(User, existing.id, populate_existing=True, with_for_update=True)


def _new_learner(session: Session, check: ClaimCheck, settings: SsoSettings) -> User:
    assert check.value and settings.new_person_job_role
    user = accounts.create_user(
        session,
        email=check.value,
        name=check.name or check.value,
        password=accounts.generate_password(email=check.value, name=check.name),  # replaced below
        role="learner",  # never from a claim
        job_role=settings.new_person_job_role,
    )
    user.password_hash = NO_PASSWORD  # they sign in with single sign-on
    session.flush()
    return user


def _record_created(session: Session, user: User, check: ClaimCheck) -> None:
    evidence.append(
        session,
        "person.created",
        user=user,
        details={
            "by": "single sign-on",
            "issuer": check.issuer,
            "subject": check.subject,
            "fields": {"email": user.email, "name": user.name, "role": "learner", "job_role": user.job_role},
        },
    )
