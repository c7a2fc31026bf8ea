"""Retention and legal hold (quiz/retention.py): the holds, and a mark on what was purged.

Revision ID: 0010e_retention
Revises: 0010d_xapi_outbox
Create Date: 2026-12-06

``legal_holds`` keeps every hold placed and released (placing and releasing are also evidence
records). ``users.purged_at``, ``outbox.body_purged_at`` and ``roster_uploads.content_purged_at``
say when ``flask retention purge`` removed a person's personal fields, a message's body or an
uploaded file's contents: the rows stay, for the records that point at them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010e_retention"
down_revision = "0010d_xapi_outbox"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("department", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=300), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=300), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_legal_holds_user_id", "legal_holds", ["user_id"])
    op.add_column("users", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("body_purged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("roster_uploads", sa.Column("content_purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column("roster_uploads", "content_purged_at")
    op.drop_column("outbox", "body_purged_at")
    op.drop_column("users", "purged_at")
    op.drop_index("ix_legal_holds_user_id", table_name="legal_holds")
    op.drop_table("legal_holds")
