"""Attempts get a secret choice key.

It shuffles an attempt's choices and names them on the page, so what a learner posts says
nothing about the file's order or which choice is right.

Revision ID: 0003_choice_key
Revises: 0002_delivery
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_choice_key"
down_revision = "0002_delivery"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("attempts", sa.Column("choice_key", sa.String(32)))
    # Attempts begun before this revision get a random key of their own (an open one is then
    # shown in a new order once; the step token already makes an older page's post harmless).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE attempts SET choice_key = lower(hex(randomblob(16)))")
    else:
        op.execute("UPDATE attempts SET choice_key = md5(random()::text || clock_timestamp()::text || id::text)")


def downgrade():
    op.drop_column("attempts", "choice_key")
