"""A seal on every row of every table but entries: a chain over every fact (the table seals).

Until now only `entries` were chained: a changed purchase, refund or promo
code went unnoticed. This version adds `seals` (store/seals.py: the row's
table and key, the digest of its canonical content, a hash chained to the
seal before) and seals every row the ledger holds, table by table in the
order store/seals.py lists them, each in key order (ids; text keys by code
point), so the same ledger gets the same seals on SQLite and PostgreSQL.
What the content of each table covers is written out below as it is at
version 10 (the members' personal data and cached balance left out). The
seals table is append-only, as entries are: triggers on SQLite (UPDATE,
DELETE) and on PostgreSQL (also TRUNCATE, with version 10's function).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v11"
down_revision = "v10"
SCHEMA_VERSION = 11

B, DT, D, N, S = "bool", "datetime", "date", "int", "text"
_TYPES = {B: sa.Boolean, DT: sa.DateTime, D: sa.Date, N: sa.BigInteger, S: sa.String}

# table -> (key column, {column: kind}) as at version 10, in the order they are sealed
TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "members": ("id", {"id": S, "enrolled_at": DT, "marketing": B, "marketing_at": DT, "forgotten_at": DT}),
    "purchases": ("id", {"id": N, "order_id": S, "member_id": S, "at": DT, "amount": N, "discount": N,
                         "points_redeemed": N, "points_paid": N, "net": N, "points_earned": N, "rounding": S,
                         "recorded_at": DT, "store": S, "till": S}),
    "refunds": ("id", {"id": N, "purchase_id": N, "at": DT, "amount": N, "net": N, "points": N,
                       "points_restored": N, "recorded_at": DT}),
    "allocations": ("id", {"id": N, "debit_id": N, "credit_id": N, "points": N}),
    "tier_changes": ("id", {"id": N, "member_id": S, "at": DT, "from_tier": S, "to_tier": S}),
    "promo_codes": ("id", {"id": N, "code": S, "key": S, "effect": S, "value": S, "min_purchase": N,
                           "starts": D, "expires": D, "max_uses": N, "per_member": N, "first_purchase": B,
                           "tier": S, "member_id": S, "batch": S, "created_at": DT, "disabled_at": DT}),
    "promo_uses": ("id", {"id": N, "promo_id": N, "member_id": S, "purchase_id": N, "at": DT, "discount": N,
                          "bonus_points": N}),
    "referral_codes": ("member_id", {"member_id": S, "code": S, "key": S, "created_at": DT}),
    "referrals": ("referee_id", {"referee_id": S, "referrer_id": S, "at": DT}),
    "referral_rewards": ("referee_id", {"referee_id": S, "purchase_id": N, "at": DT}),
    "birthday_bonuses": ("entry_id", {"member_id": S, "year": N, "entry_id": N}),
    "consent_changes": ("id", {"id": N, "member_id": S, "at": DT, "marketing": B, "via": S, "recorded_at": DT}),
    "meta": ("key", {"key": S, "value": S}),
}
BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "seals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("row_key", sa.String, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_seals_row", "seals", ["table_name", "row_key", "id"])
    _append_only()
    _seal_everything(op.get_bind())


def _append_only() -> None:
    if op.get_context().dialect.name == "sqlite":
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER seals_no_{what.lower()} BEFORE {what} ON seals "
                       "BEGIN SELECT RAISE(ABORT, 'seals is append-only'); END")
    elif op.get_context().dialect.name == "postgresql":
        for what, each in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            op.execute(f"CREATE TRIGGER seals_no_{what.lower()} BEFORE {what} ON seals FOR EACH {each} "
                       "EXECUTE FUNCTION loyalty_refuse('seals is append-only')")


def _seal_everything(conn) -> None:
    from loyalty_cli.store import bulk, seals
    from loyalty_cli.store.db import by_code_point

    md = sa.MetaData()  # the seals table as this revision made it, for the bulk insert
    target = sa.Table("seals", md, sa.Column("id", sa.Integer, primary_key=True),
                      *(sa.Column(c, sa.String) for c in seals.SEAL_COLUMNS[1:]))
    head = (0, seals.GENESIS)
    for name, (key, kinds) in TABLES.items():
        table = sa.table(name, *(sa.column(c, _TYPES[k]()) for c, k in kinds.items()))
        order = table.c[key] if kinds[key] == N else by_code_point(table.c[key])
        for rows in conn.execute(sa.select(table).order_by(order).execution_options(yield_per=BATCH)).partitions():
            new = seals.sealed(head, name, [r._mapping for r in rows], key=key, kinds=kinds)
            bulk.insert_rows(conn, target, seals.SEAL_COLUMNS, new)
            head = (new[-1][0], new[-1][-1])
