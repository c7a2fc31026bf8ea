"""Single-use links to set a password: invitations and resets (quiz/invitations.py).

Revision ID: 0010b_invitations
Revises: 0010_mfa
Create Date: 2026-12-06

Only a keyed hash of each link's token is stored (never the token), made when the email is
handed to the SMTP server. A partial index of the sign-in records finds who has never signed in.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010b_invitations"
down_revision = "0010_mfa"
branch_labels = None
depends_on = None

SIGNED_IN = "event = 'session.signed-in'"


def upgrade():
    op.create_table(
        "access_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("password_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=300), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), sa.ForeignKey("outbox.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_access_links_user_id", "access_links", ["user_id"])
    op.create_index("ix_access_links_outbox_message_id", "access_links", ["outbox_message_id"])
    # Who has ever signed in, without reading each person's other records (only they are never
    # invited: invitations.select_people).
    op.create_index(
        "ix_evidence_signed_in", "evidence", ["user_id"],
        sqlite_where=sa.text(SIGNED_IN), postgresql_where=sa.text(SIGNED_IN),
    )


def downgrade():
    op.drop_index("ix_evidence_signed_in", table_name="evidence")
    op.drop_index("ix_access_links_outbox_message_id", table_name="access_links")
    op.drop_index("ix_access_links_user_id", table_name="access_links")
    op.drop_table("access_links")
