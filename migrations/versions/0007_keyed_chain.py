"""Evidence records carry the id of the evidence key and a MAC made with it.

Records written before this migration keep no MAC (none can be made for them honestly after
the fact): the first record the app appends afterwards is an "evidence.keyed" record, and
``evidence verify`` says from which record on the chain is keyed (docs/operations.md, "The
evidence key").

Revision ID: 0007_keyed_chain
Revises: 0006_actors
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_keyed_chain"
down_revision = "0006_actors"
branch_labels = None
depends_on = None


def upgrade():
    # Adding a column changes no row: the triggers that refuse UPDATE and DELETE stay as they are.
    op.add_column("evidence", sa.Column("key_id", sa.String(length=40)))
    op.add_column("evidence", sa.Column("mac", sa.String(length=64)))


def downgrade():
    raise RuntimeError("the evidence log is kept for six years: its MACs are not dropped")
