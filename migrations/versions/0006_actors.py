"""Who set a password: accounts say whether theirs was set by an admin and must be changed;
attempts say whether they were signed in a session begun with such a password.

Revision ID: 0006_actors
Revises: 0005_signed_statement
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_actors"
down_revision = "0005_signed_statement"
branch_labels = None
depends_on = None


def upgrade():
    # Existing passwords: who set them was not kept, so they are not marked (docs/operations.md).
    op.add_column("users", sa.Column("password_set_by_admin", sa.Boolean(), nullable=False,
                                     server_default=sa.text("false")))
    op.add_column("users", sa.Column("password_must_change", sa.Boolean(), nullable=False,
                                     server_default=sa.text("false")))
    op.add_column("attempts", sa.Column("signed_in_with_admin_set_password", sa.Boolean()))


def downgrade():
    op.drop_column("attempts", "signed_in_with_admin_set_password")
    op.drop_column("users", "password_must_change")
    op.drop_column("users", "password_set_by_admin")
