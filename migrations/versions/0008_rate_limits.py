"""Sign-in rate limits counted in the database, shared by every worker and server
(RATELIMIT_STORAGE_URI=database://, the default; quiz/web/limits.py).

Revision ID: 0008_rate_limits
Revises: 0007_keyed_chain
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_rate_limits"
down_revision = "0007_keyed_chain"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )


def downgrade():
    op.drop_table("rate_limit_counters")
