"""Trainers' drafts of content files, and who did what to each (quiz/drafts.py).

Revision ID: 0010f_content_drafts
Revises: 0010e_retention
Create Date: 2026-12-06

Drafts live in the database so that every server sees them; the live content stays the files in
CONTENT_DIR, which a draft's publish writes (docs/architecture.md, "Where live content lives").
"""

import sqlalchemy as sa
from alembic import op

revision = "0010f_content_drafts"
down_revision = "0010e_retention"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "content_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("content_id", sa.String(length=120), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("base_version", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lock", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_content_drafts_status", "content_drafts", ["status"])
    op.create_table(
        "content_draft_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), sa.ForeignKey("content_drafts.id"), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_content_draft_events_draft_id", "content_draft_events", ["draft_id"])


def downgrade():
    op.drop_index("ix_content_draft_events_draft_id", table_name="content_draft_events")
    op.drop_table("content_draft_events")
    op.drop_index("ix_content_drafts_status", table_name="content_drafts")
    op.drop_table("content_drafts")
