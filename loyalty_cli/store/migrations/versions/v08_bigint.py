"""64-bit money, points, counts and ids on PostgreSQL (BIGINT, and bigint sequences).

PostgreSQL's INTEGER is 32 bits: an amount above 21,474,836.47 in minor units
of a two-decimal currency, or a balance above 2,147,483,647 points, overflowed.
Every amount, points, count and id column becomes BIGINT there, and the
sequences behind the generated ids bigint too. SQLite's INTEGER already holds
64 bits, and an INTEGER PRIMARY KEY must stay INTEGER to remain the rowid, so
nothing changes on SQLite (its declared types stay as they are, on a fresh
ledger and an upgraded one alike); the version is recorded there all the same.
"""

from __future__ import annotations

from alembic import op

revision = "v08"
down_revision = "v07"
SCHEMA_VERSION = 8

# The columns made BIGINT, per table (as they are at version 7). Not schema_version.version nor
# birthday_bonuses.year: those are not amounts.
COLUMNS = {
    "members": ("points",),
    "purchases": ("id", "amount", "discount", "points_redeemed", "points_paid", "net", "points_earned"),
    "refunds": ("id", "purchase_id", "amount", "net", "points", "points_restored"),
    "entries": ("id", "points", "reverses"),
    "allocations": ("id", "debit_id", "credit_id", "points"),
    "tier_changes": ("id",),
    "promo_codes": ("id", "min_purchase", "max_uses", "per_member"),
    "promo_uses": ("id", "promo_id", "purchase_id", "discount", "bonus_points"),
    "referral_rewards": ("purchase_id",),
    "birthday_bonuses": ("entry_id",),
    "consent_changes": ("id",),
}


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {c} TYPE BIGINT" for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
    conn = op.get_bind()
    for table, columns in COLUMNS.items():
        if "id" not in columns:
            continue
        seq = conn.exec_driver_sql(f"SELECT pg_get_serial_sequence('{table}', 'id')").scalar()
        if seq is not None:
            op.execute(f"ALTER SEQUENCE {seq} AS BIGINT")
