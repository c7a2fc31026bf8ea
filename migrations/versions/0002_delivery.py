"""Delivery: roster fields on people, assignments, trigger events, roster uploads, the outbox.

Revision ID: 0002_delivery
Revises: 0001_initial
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_delivery"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs (no table rebuild: SQLite cannot drop a table other rows point at).
    op.add_column("users", sa.Column("employee_id", sa.String(64)))
    op.add_column("users", sa.Column("hire_date", sa.Date()))
    op.add_column("users", sa.Column("work_state", sa.String(2)))
    op.add_column("users", sa.Column("person_kind", sa.String(20), nullable=False, server_default="employee"))
    op.add_column("users", sa.Column("vendor", sa.String(200)))
    op.add_column("users", sa.Column("cleared_at", sa.DateTime(timezone=True)))
    if op.get_bind().dialect.name == "sqlite":  # SQLite takes REFERENCES only inline
        op.execute("ALTER TABLE users ADD COLUMN cleared_by_id INTEGER REFERENCES users(id)")
    else:
        op.add_column("users", sa.Column("cleared_by_id", sa.Integer(), sa.ForeignKey("users.id")))
    op.create_index("uq_users_employee_id", "users", ["employee_id"], unique=True)

    op.create_table(
        "trigger_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("scope_kind", sa.String(12), nullable=False),
        sa.Column("scope_value", sa.Text(), nullable=False),
        sa.Column("module_ids", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("module_id", sa.String(120), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text()),
        sa.Column("assigned_by_id", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("trigger_event_id", sa.Integer(), sa.ForeignKey("trigger_events.id")),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("waived_reason", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by_attempt_id", sa.Integer(), sa.ForeignKey("attempts.id")),
    )
    op.create_index("ix_assignments_user_id", "assignments", ["user_id"])
    op.create_index("ix_assignments_module_id", "assignments", ["module_id"])
    op.create_index("ix_assignments_trigger_event_id", "assignments", ["trigger_event_id"])
    op.create_table(
        "roster_uploads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("to_user_id", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("to_address", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("digest_day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("transport", sa.String(10), nullable=False),
        sa.Column("error", sa.Text()),
        sa.UniqueConstraint("to_address", "kind", "digest_day", name="uq_one_digest_a_day"),
    )
    op.create_index("ix_outbox_to_user_id", "outbox", ["to_user_id"])


def downgrade():
    for table in ("outbox", "roster_uploads", "assignments", "trigger_events"):
        op.drop_table(table)
    op.drop_index("uq_users_employee_id", "users")
    for column in ("cleared_by_id", "cleared_at", "vendor", "person_kind", "work_state", "hire_date", "employee_id"):
        op.drop_column("users", column)
