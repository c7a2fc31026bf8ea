"""Attempts found by module and attempt number: the answer statistics of a module page
(quiz/answer_stats.py) and the module insights read learners' first attempts at one module.

Revision ID: 0010h_attempts_by_module
Revises: 0010g_invitation_requests
Create Date: 2026-12-06

Without it each of those pages scans every attempt (500,000 at 10,000 learners x 50 modules:
125-180 ms a page on PostgreSQL; 50-100 ms with it).
"""

from alembic import op

revision = "0010h_attempts_by_module"
down_revision = "0010g_invitation_requests"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_attempts_module_number", "attempts", ["module_id", "number"])


def downgrade():
    op.drop_index("ix_attempts_module_number", table_name="attempts")
