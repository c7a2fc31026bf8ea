"""Initial schema: users, content versions, attempts, answers, and the append-only evidence log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("evidence", "content_versions")


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("job_role", sa.String(40), nullable=False),
        sa.Column("specialty", sa.String(40)),
        sa.Column("department", sa.String(120)),
        sa.Column("supervisor_id", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "content_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("content_id", sa.String(120), nullable=False),
        sa.Column("specialty", sa.String(40)),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("module_id", sa.String(120), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("module_version", sa.String(64), sa.ForeignKey("content_versions.version"), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("scenario_versions", sa.Text(), nullable=False),
        sa.Column("stage", sa.String(12), nullable=False),
        sa.Column("screen", sa.Integer(), nullable=False),
        sa.Column("scenario_index", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(120)),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer()),
        sa.Column("passed", sa.Boolean()),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_name", sa.String(200)),
        sa.UniqueConstraint("user_id", "module_id", "number", name="uq_attempt_number"),
    )
    op.create_index("ix_attempts_user_id", "attempts", ["user_id"])
    op.create_index(
        "uq_attempt_open",
        "attempts",
        ["user_id", "module_id"],
        unique=True,
        sqlite_where=sa.text("stage != 'finished'"),
        postgresql_where=sa.text("stage != 'finished'"),
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("attempt_id", sa.Integer(), sa.ForeignKey("attempts.id"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("scenario_index", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.String(120), nullable=False),
        sa.Column("scenario_version", sa.String(64), nullable=False),
        sa.Column("node_id", sa.String(120), nullable=False),
        sa.Column("objective", sa.String(120)),
        sa.Column("choice_number", sa.Integer(), nullable=False),
        sa.Column("to_node", sa.String(120), nullable=False),
        sa.Column("first_visit", sa.Boolean(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("attempt_id", "step", name="uq_answer_step"),
    )
    op.create_index("ix_answers_attempt_id", "answers", ["attempt_id"])
    op.create_table(
        "evidence",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer()),
        sa.Column("learner_email", sa.String(254)),
        sa.Column("learner_name", sa.String(200)),
        sa.Column("job_role", sa.String(40)),
        sa.Column("department", sa.String(120)),
        sa.Column("supervisor", sa.String(460)),
        sa.Column("module_id", sa.String(120)),
        sa.Column("content_version", sa.String(64)),
        sa.Column("policy_version", sa.String(40)),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_evidence_user_id", "evidence", ["user_id"])
    op.create_index("ix_evidence_module_id", "evidence", ["module_id"])
    _append_only_triggers()


def _append_only_triggers():
    """The database itself refuses to change or remove evidence, whoever asks."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION rounds_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
            END $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION rounds_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION rounds_refuse_change()"
            )
    else:
        raise RuntimeError(f"append-only triggers are not written for {dialect}")


def downgrade():
    raise RuntimeError("the evidence log is kept for six years: this migration is not reversible")
