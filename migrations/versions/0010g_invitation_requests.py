"""Large invitations wait for the invitations job: who was asked for, by whom, when
(quiz/invitations.py, ``request_invitations``).

Revision ID: 0010g_invitation_requests
Revises: 0010f_content_drafts
Create Date: 2026-12-06

Above INVITATIONS_IN_REQUEST people, the admin's request keeps one row per person here (and an
"invitations.requested" evidence record); ``users send-invitations`` makes the invitations in
batches and removes each row as its person is invited. One row per person: a second request
before the job runs adds nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010g_invitation_requests"
down_revision = "0010f_content_drafts"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "invitation_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("asked_by", sa.String(length=300), nullable=False),
        sa.Column("asked_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )


def downgrade():
    op.drop_table("invitation_requests")
