"""CHECK constraints for what always holds of purchases, refunds, promo codes and their uses.

Amounts, discounts and points of a purchase are never negative, and its net
is its amount less its discount and what points paid; a refund gives back a
positive amount and never takes back negative points; a promo use never
discounts or awards a negative figure; a promo code's minimum purchase is not
negative and its limits are at least 1. (Entries' points non-zero and
allocations positive hold since version 1.) What needs other rows, such as a
refund never beyond its purchase, cannot be a CHECK; `loyalty check` tests it.

PostgreSQL adds the constraints to the tables (checking every row). SQLite
cannot add a constraint to a table, so each of the four is rebuilt (Alembic's
batch mode: a new table, the rows copied, the old one dropped, the new one
renamed, as SQLite's documentation prescribes, with foreign keys off and
checked afterwards), from its definition at version 8, written out here, and
its append-only triggers made again (dropping a table drops its triggers).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v09"
down_revision = "v08"
SCHEMA_VERSION = 9

CHECKS = {
    "purchases": (
        ("ck_purchases_non_negative",
         "amount >= 0 AND discount >= 0 AND points_redeemed >= 0 AND points_paid >= 0 AND net >= 0 "
         "AND points_earned >= 0"),
        ("ck_purchases_net", "net = amount - discount - points_paid"),
    ),
    "refunds": (
        ("ck_refunds_amount_positive", "amount > 0"),
        ("ck_refunds_non_negative", "net >= 0 AND points >= 0 AND points_restored >= 0"),
    ),
    "promo_uses": (("ck_promo_uses_non_negative", "discount >= 0 AND bonus_points >= 0"),),
    "promo_codes": (
        ("ck_promo_codes_limits",
         "min_purchase >= 0 AND (max_uses IS NULL OR max_uses >= 1) AND (per_member IS NULL OR per_member >= 1)"),
    ),
}

S, N, D, T = sa.String, sa.Integer, sa.Date, sa.DateTime


def _c(name, type_, *args, nullable=False, **kw) -> sa.Column:
    return sa.Column(name, type_, *args, nullable=nullable, **kw)


def _sqlite_tables() -> dict[str, sa.Table]:
    """The four tables as they are on SQLite at version 8 (as at 7: version 8 changes nothing there)."""
    md = sa.MetaData()
    for name in ("members", "entries"):
        sa.Table(name, md, sa.Column("id", S(64) if name == "members" else N, primary_key=True))
    tables = {}
    tables["purchases"] = sa.Table(
        "purchases", md, _c("id", N, primary_key=True), _c("order_id", S, unique=True),
        _c("member_id", S, sa.ForeignKey("members.id")), _c("at", T), _c("amount", N), _c("discount", N),
        _c("points_redeemed", N), _c("points_paid", N), _c("net", N), _c("points_earned", N), _c("rounding", S),
        _c("recorded_at", T), _c("store", S(64), nullable=True), _c("till", S(64), nullable=True),
        sa.Index("ix_purchases_member_at", "member_id", "at"), sa.Index("ix_purchases_store_at", "store", "at"))
    tables["refunds"] = sa.Table(
        "refunds", md, _c("id", N, primary_key=True), _c("purchase_id", N, sa.ForeignKey("purchases.id")),
        _c("at", T), _c("amount", N), _c("net", N), _c("points", N), _c("points_restored", N), _c("recorded_at", T),
        sa.Index("ix_refunds_purchase_id", "purchase_id"))
    tables["promo_codes"] = sa.Table(
        "promo_codes", md, _c("id", N, primary_key=True), _c("code", S), _c("key", S, unique=True),
        _c("effect", S), _c("value", S), _c("min_purchase", N), _c("starts", D, nullable=True),
        _c("expires", D, nullable=True), _c("max_uses", N, nullable=True), _c("per_member", N, nullable=True),
        _c("first_purchase", sa.Boolean), _c("tier", S, nullable=True),
        _c("member_id", S, sa.ForeignKey("members.id"), nullable=True), _c("batch", S, nullable=True),
        _c("created_at", T), _c("disabled_at", T, nullable=True))
    tables["promo_uses"] = sa.Table(
        "promo_uses", md, _c("id", N, primary_key=True), _c("promo_id", N, sa.ForeignKey("promo_codes.id")),
        _c("member_id", S, sa.ForeignKey("members.id")),
        _c("purchase_id", N, sa.ForeignKey("purchases.id"), unique=True), _c("at", T), _c("discount", N),
        _c("bonus_points", N), sa.Index("ix_promo_uses_promo_member", "promo_id", "member_id"))
    return tables


PROMO_RULES = ("id", "code", "key", "effect", "value", "min_purchase", "starts", "expires", "max_uses",
               "per_member", "first_purchase", "tier", "member_id", "batch", "created_at")


def _triggers(table: str) -> None:
    """SQLite's triggers of a rebuilt table, as version 6 made them."""
    if table == "promo_codes":
        op.execute("CREATE TRIGGER promo_codes_no_delete BEFORE DELETE ON promo_codes "
                   "BEGIN SELECT RAISE(ABORT, 'promo_codes are never deleted'); END")
        op.execute(f"CREATE TRIGGER promo_codes_no_update BEFORE UPDATE OF {', '.join(PROMO_RULES)} "
                   "ON promo_codes BEGIN SELECT RAISE(ABORT, 'promo code rules are append-only'); END")
        return
    for what in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        for table, checks in CHECKS.items():
            for name, condition in checks:
                op.create_check_constraint(name, table, condition)
        return
    frozen = _sqlite_tables()
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, copy_from=frozen[table], recreate="always") as batch:
            for name, condition in checks:
                batch.create_check_constraint(name, condition)
        _triggers(table)
