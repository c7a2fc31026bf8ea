"""Certificates anyone can check: each signed attempt gets a code; a certificate can be revoked.

Revision ID: 0010c_certificate_codes
Revises: 0010b_invitations
Create Date: 2026-12-06

Every attempt already signed gets a random code of its own here (quiz/certificate_codes.py: 10
characters of Crockford's base32), in batches of 1,000 read by id, so 100,000 signed attempts
never sit in memory at once; the unique index is made once they all have one.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010c_certificate_codes"
down_revision = "0010b_invitations"
branch_labels = None
depends_on = None

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # as quiz/certificate_codes.py (a migration stands alone)
LENGTH = 10
BATCH = 1000


def _code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def upgrade():
    op.add_column("attempts", sa.Column("certificate_code", sa.String(10)))
    op.add_column("attempts", sa.Column("certificate_revoked_at", sa.DateTime(timezone=True)))
    op.add_column("attempts", sa.Column("certificate_revoked_reason", sa.Text()))
    bind = op.get_bind()
    signed = sa.text(
        "SELECT id FROM attempts WHERE acknowledged_at IS NOT NULL AND id > :after ORDER BY id LIMIT :batch"
    )
    update = sa.text("UPDATE attempts SET certificate_code = :code WHERE id = :id")
    given: set[str] = set()  # no code twice (the index below would refuse it)
    after = 0
    while True:
        ids = bind.execute(signed, {"after": after, "batch": BATCH}).scalars().all()
        if not ids:
            break
        rows = []
        for attempt_id in ids:
            code = _code()
            while code in given:
                code = _code()
            given.add(code)
            rows.append({"id": attempt_id, "code": code})
        bind.execute(update, rows)
        after = ids[-1]
    op.create_index("uq_attempt_certificate_code", "attempts", ["certificate_code"], unique=True)


def downgrade():
    op.drop_index("uq_attempt_certificate_code", table_name="attempts")
    op.drop_column("attempts", "certificate_revoked_reason")
    op.drop_column("attempts", "certificate_revoked_at")
    op.drop_column("attempts", "certificate_code")
