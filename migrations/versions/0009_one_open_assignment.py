"""One open assignment per person and module, held by the database; a table of job run locks.

Revision ID: 0009_one_open_assignment
Revises: 0008_rate_limits
Create Date: 2026-12-06

The unique index covers the open states ('open' and 'overdue'). If the database already holds
two open assignments of one module for one person, the upgrade stops and changes nothing,
listing them: which to keep is a person's decision (waive the others with a reason, which the
evidence records), not a migration's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_one_open_assignment"
down_revision = "0008_rate_limits"
branch_labels = None
depends_on = None

OPEN = "state IN ('open', 'overdue')"


def upgrade():
    duplicates = op.get_bind().execute(sa.text(
        f"SELECT user_id, module_id, COUNT(*) FROM assignments WHERE {OPEN} "
        "GROUP BY user_id, module_id HAVING COUNT(*) > 1 ORDER BY user_id, module_id"
    )).all()
    if duplicates:
        listed = "; ".join(f"user id {u}, module {m}: {n} open" for u, m, n in duplicates[:20])
        more = f" (and {len(duplicates) - 20} more)" if len(duplicates) > 20 else ""
        raise RuntimeError(
            f"0009_one_open_assignment: {len(duplicates)} person/module pair(s) have more than one open "
            f"assignment: {listed}{more}. Nothing was changed. Waive all but one of each (with a reason: "
            "the waiver is an evidence record), then run the upgrade again."
        )
    op.create_index(
        "uq_assignment_open", "assignments", ["user_id", "module_id"], unique=True,
        sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN),
    )
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade():
    op.drop_table("job_locks")
    op.drop_index("uq_assignment_open", table_name="assignments")
