"""Second factor for privileged roles: TOTP secrets (encrypted) and one-time recovery codes
(hashed) (quiz/mfa.py).

Revision ID: 0010_mfa
Revises: 0009_one_open_assignment
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_mfa"
down_revision = "0009_one_open_assignment"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mfa_factors",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mfa_recovery_codes_user_id", "mfa_recovery_codes", ["user_id"], unique=False)


def downgrade():
    op.drop_index("ix_mfa_recovery_codes_user_id", table_name="mfa_recovery_codes")
    op.drop_table("mfa_recovery_codes")
    op.drop_table("mfa_factors")
