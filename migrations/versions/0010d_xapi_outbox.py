"""The xAPI outbox: the statements made from evidence records, waiting for the learning record
store, sent, or refused by it (quiz/xapi.py; docs/operations.md, "xAPI and a learning record
store").

Revision ID: 0010d_xapi_outbox
Revises: 0010c_certificate_codes
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010d_xapi_outbox"
down_revision = "0010c_certificate_codes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "xapi_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.String(length=36), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq", name="uq_xapi_outbox_seq"),
        sa.UniqueConstraint("statement_id", name="uq_xapi_outbox_statement_id"),
    )
    op.create_index("ix_xapi_outbox_due", "xapi_outbox", ["state", "next_attempt_at"])


def downgrade():
    op.drop_index("ix_xapi_outbox_due", table_name="xapi_outbox")
    op.drop_table("xapi_outbox")
