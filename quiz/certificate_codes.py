"""Certificates anyone can check: each signed attempt's code, its public check, and revocation.

A certificate carries a short code (and, on the PDF, a QR code of its check address,
``BASE_URL/c/CODE``). Whoever is handed one (an employer, an auditor) opens that address, with
no account, and reads whether it is valid or revoked, the person's name, the module, the day it
was signed and the content version: nothing else (``Check``).

The code is 10 characters of Crockford's base32 (digits and capitals without I, L, O, U) from
50 random bits: unguessable at the page's rate limit, short enough to type from paper, shown in
groups (``7KQ2-M9XD-4T``). It is made when the attempt is signed (``engine.acknowledge``, which
names it in the signature's evidence record) and stored on the attempt under a unique index.
A typed code is read the way Crockford's alphabet intends: any case, dashes and spaces ignored,
O read as 0 and I or L as 1.

Revoking a certificate (after a finding, say) is a compliance officer's or an admin's act, with
a reason, and an evidence record (``certificate.revoked``); the attempt keeps when and why, and
every page that shows the certificate says Revoked. Nothing here takes a revocation back.
Plain Python over a session; no Flask, no commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import evidence, versions
from .content import Library
from .models import Attempt, User, as_utc, utcnow

#: Crockford's base32: no I, L, O or U (nothing to misread, no accidental words).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10  # 50 bits
#: What people type for what they mean (Crockford's decoding rules).
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
#: The longest text worth reading as a code (spaces, dashes, a pasted address's path are not).
MAX_TYPED = 40
REASON_MAX = 500


def new_code() -> str:
    """A fresh random code, as stored (no dashes)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def unused_code(session: Session) -> str:
    """A fresh code no attempt has (the unique index holds the rule; at 50 bits a clash is
    next to impossible, but cheap to rule out)."""
    while True:
        code = new_code()
        if session.scalar(select(Attempt.id).where(Attempt.certificate_code == code)) is None:
            return code


def grouped(code: str) -> str:
    """A stored code as it is shown and printed: ``7KQ2-M9XD-4T``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize(typed: str) -> str | None:
    """A typed code as stored, or None if it cannot be one: any case, dashes and spaces
    ignored, O read as 0 and I or L as 1."""
    if len(typed) > MAX_TYPED:
        return None
    code = "".join(typed.split()).replace("-", "").upper().translate(_READ_AS)
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def check_url(base_url: str, code: str) -> str:
    """The public page that checks this certificate (what the QR code on the PDF opens)."""
    return f"{base_url.rstrip('/')}/c/{grouped(code)}"


def find(session: Session, typed: str, *, for_update: bool = False) -> Attempt | None:
    """The signed attempt whose certificate has this code (as typed), if any; ``for_update``
    locks its row on PostgreSQL (a revocation: two at once record once)."""
    code = normalize(typed)
    if code is None:
        return None
    query = select(Attempt).where(Attempt.certificate_code == code, Attempt.acknowledged_at.is_not(None))
    return session.scalar(query.with_for_update() if for_update else query)


@dataclass(frozen=True)
class Check:
    """What the public page says about a certificate, and nothing more: no email, no role, no
    score, no reason for a revocation."""

    code: str
    name: str
    module_title: str
    signed_at: datetime
    content_version: str  # the first 16 hex digits, as the certificate prints it
    revoked_at: datetime | None

    @property
    def valid(self) -> bool:
        return self.revoked_at is None


def check(session: Session, library: Library, typed: str) -> Check | None:
    """The public check of a typed code; None if no certificate has it. The name is the one
    the certificate states (as the signature's evidence record has it), the title the module's
    as it was taken."""
    attempt = find(session, typed)
    if attempt is None or attempt.acknowledged_at is None or attempt.certificate_code is None:
        return None
    from .engine import certificate  # (engine imports this module)

    cert = certificate(session, attempt)
    name = cert.learner_name if cert is not None else attempt.user.name
    try:
        title = versions.resolve(session, library, attempt.module_version).title
    except (LookupError, ValueError):  # a version never stored, or a stored text no longer parsed
        title = versions.titles(session, library, [attempt.module_id]).get(attempt.module_id, attempt.module_id)
    return Check(
        code=attempt.certificate_code,
        name=name,
        module_title=title,
        signed_at=as_utc(attempt.acknowledged_at),
        content_version=attempt.module_version[:16],
        revoked_at=as_utc(attempt.certificate_revoked_at),
    )


def revoke(session: Session, attempt: Attempt, by: User, reason: str) -> bool:
    """Revoke the certificate of a signed attempt, for a reason: the attempt says so from now
    on, and it is an evidence record naming who, which certificate and why. False if it was
    revoked already (nothing changes, nothing is recorded)."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a revocation needs a reason")
    if len(reason) > REASON_MAX:
        raise ValueError(f"a revocation's reason is at most {REASON_MAX} characters")
    if attempt.acknowledged_at is None or attempt.certificate_code is None:
        raise ValueError(f"attempt {attempt.id} has no certificate to revoke")
    if attempt.certificate_revoked_at is not None:
        return False
    attempt.certificate_revoked_at = utcnow()
    attempt.certificate_revoked_reason = reason
    evidence.append(
        session,
        "certificate.revoked",
        user=attempt.user,
        module_id=attempt.module_id,
        content_version=attempt.module_version,
        policy_version=attempt.policy_version,
        details={
            "attempt": attempt.number,
            "certificate_code": attempt.certificate_code,
            "reason": reason,
            "by": by.email,
            "by_role": by.role,
        },
    )
    return True
