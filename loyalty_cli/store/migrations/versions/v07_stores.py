"""The store and till of a purchase: purchases.store and purchases.till; an index on (store, at).

Both nullable: purchases recorded before this version have neither, and
nothing is guessed for them. The index serves a store's report. (Version 7
was first a step of the migrations before Alembic; a ledger that step made
is stamped with this revision.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v07"
down_revision = "v06"
SCHEMA_VERSION = 7


def upgrade() -> None:
    op.add_column("purchases", sa.Column("store", sa.String(64), nullable=True))
    op.add_column("purchases", sa.Column("till", sa.String(64), nullable=True))
    op.create_index("ix_purchases_store_at", "purchases", ["store", "at"])
