"""Attempts keep the state's signed statement of completion they were signed as.

Revision ID: 0005_signed_statement
Revises: 0004_assignment_objective
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_signed_statement"
down_revision = "0004_assignment_objective"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("attempts", sa.Column("signed_statement", sa.Text()))


def downgrade():
    op.drop_column("attempts", "signed_statement")
