"""Assignments name the objective a missed-objective follow-up trains.

Revision ID: 0004_assignment_objective
Revises: 0003_choice_key
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_assignment_objective"
down_revision = "0003_choice_key"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("assignments", sa.Column("objective", sa.String(120)))


def downgrade():
    op.drop_column("assignments", "objective")
