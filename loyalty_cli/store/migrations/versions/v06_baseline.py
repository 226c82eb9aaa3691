"""Baseline: the schema of version 6, as loyalty made it before Alembic.

Frozen: every table as it stood at schema version 6, written out (not today's
models), with SQLite's append-only triggers. A fresh ledger starts here; a
ledger made before Alembic is brought to version 6 by the old steps
(migrations/legacy.py) and stamped with this revision instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v06"
down_revision = None
SCHEMA_VERSION = 6
# The rows of schema_version a fresh ledger gets: every version this baseline stands for.
RECORDS = (
    (1, "initial schema: members, purchases, refunds, entries, allocations, tier changes"),
    (2, "promo codes and their uses, referral codes, referrals and their rewards"),
    (3, "ledger facts (its currency); index on entries.order_id"),
    (4, "birthday bonuses paid; index on entries.expires_on"),
    (5, "hash chain over entries; members.forgotten_at"),
    (6, "marketing consent as dated history (consent_changes)"),
)

APPEND_ONLY = ("entries", "allocations", "purchases", "refunds", "tier_changes", "schema_version",
               "promo_uses", "referral_codes", "referrals", "referral_rewards", "birthday_bonuses",
               "consent_changes")
PROMO_RULES = ("id", "code", "key", "effect", "value", "min_purchase", "starts", "expires", "max_uses",
               "per_member", "first_purchase", "tier", "member_id", "batch", "created_at")


# The column types, short, as they were at version 6.
S, N, D, T = sa.String, sa.Integer, sa.Date, sa.DateTime


def _c(name, type_, *args, nullable=False, **kw) -> sa.Column:
    return sa.Column(name, type_, *args, nullable=nullable, **kw)


def _id() -> sa.Column:
    return _c("id", sa.Integer, primary_key=True)


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target)


def upgrade() -> None:
    op.create_table("schema_version", _c("version", N, primary_key=True), _c("name", S), _c("applied_at", T))
    op.create_table("members", _c("id", S(64), primary_key=True), _c("name", S, nullable=True),
                    _c("email", S, nullable=True, unique=True), _c("phone", S, nullable=True, unique=True),
                    _c("birthday", D, nullable=True), _c("enrolled_at", T), _c("marketing", sa.Boolean),
                    _c("marketing_at", T, nullable=True), _c("points", N), _c("forgotten_at", T, nullable=True))
    op.create_table("purchases", _id(), _c("order_id", S, unique=True), _c("member_id", S, _fk("members.id")),
                    _c("at", T), _c("amount", N), _c("discount", N), _c("points_redeemed", N),
                    _c("points_paid", N), _c("net", N), _c("points_earned", N), _c("rounding", S),
                    _c("recorded_at", T))
    op.create_index("ix_purchases_member_at", "purchases", ["member_id", "at"])
    op.create_table("refunds", _id(), _c("purchase_id", N, _fk("purchases.id")), _c("at", T), _c("amount", N),
                    _c("net", N), _c("points", N), _c("points_restored", N), _c("recorded_at", T))
    op.create_index("ix_refunds_purchase_id", "refunds", ["purchase_id"])
    op.create_table("entries", _id(), _c("member_id", S, _fk("members.id")), _c("at", T), _c("kind", S),
                    _c("points", N), _c("order_id", S, nullable=True), _c("action", S, nullable=True),
                    _c("note", S, nullable=True), _c("reverses", N, _fk("entries.id"), nullable=True),
                    _c("expires_on", D, nullable=True), _c("available_on", D, nullable=True),
                    _c("recorded_at", T), _c("hash", S, nullable=True),
                    sa.CheckConstraint("points <> 0", name="ck_entries_points_nonzero"))
    op.create_index("ix_entries_member_at", "entries", ["member_id", "at"])
    op.create_index("ix_entries_order", "entries", ["order_id"])
    op.create_index("ix_entries_expires", "entries", ["expires_on"])
    op.create_table("allocations", _id(), _c("debit_id", N, _fk("entries.id")), _c("credit_id", N, _fk("entries.id")),
                    _c("points", N), sa.CheckConstraint("points > 0", name="ck_allocations_points_positive"))
    op.create_index("ix_allocations_debit_id", "allocations", ["debit_id"])
    op.create_index("ix_allocations_credit_id", "allocations", ["credit_id"])
    op.create_table("tier_changes", _id(), _c("member_id", S, _fk("members.id")), _c("at", T),
                    _c("from_tier", S, nullable=True), _c("to_tier", S))
    op.create_index("ix_tier_changes_member_at", "tier_changes", ["member_id", "at"])
    _codes()
    op.create_table("meta", _c("key", S, primary_key=True), _c("value", S))
    op.create_table("birthday_bonuses", _c("member_id", S, _fk("members.id"), primary_key=True),
                    _c("year", N, primary_key=True), _c("entry_id", N, _fk("entries.id"), unique=True))
    op.create_table("consent_changes", _id(), _c("member_id", S, _fk("members.id")), _c("at", T),
                    _c("marketing", sa.Boolean), _c("via", S), _c("recorded_at", T))
    op.create_index("ix_consent_changes_member_at", "consent_changes", ["member_id", "at"])
    op.create_index("ix_consent_changes_at", "consent_changes", ["at"])
    _sqlite_triggers()


def _codes() -> None:
    op.create_table("promo_codes", _id(), _c("code", S), _c("key", S, unique=True), _c("effect", S),
                    _c("value", S), _c("min_purchase", N), _c("starts", D, nullable=True),
                    _c("expires", D, nullable=True), _c("max_uses", N, nullable=True),
                    _c("per_member", N, nullable=True), _c("first_purchase", sa.Boolean),
                    _c("tier", S, nullable=True), _c("member_id", S, _fk("members.id"), nullable=True),
                    _c("batch", S, nullable=True), _c("created_at", T), _c("disabled_at", T, nullable=True))
    op.create_table("promo_uses", _id(), _c("promo_id", N, _fk("promo_codes.id")),
                    _c("member_id", S, _fk("members.id")), _c("purchase_id", N, _fk("purchases.id"), unique=True),
                    _c("at", T), _c("discount", N), _c("bonus_points", N))
    op.create_index("ix_promo_uses_promo_member", "promo_uses", ["promo_id", "member_id"])
    op.create_table("referral_codes", _c("member_id", S, _fk("members.id"), primary_key=True), _c("code", S),
                    _c("key", S, unique=True), _c("created_at", T))
    op.create_table("referrals", _c("referee_id", S, _fk("members.id"), primary_key=True),
                    _c("referrer_id", S, _fk("members.id")), _c("at", T))
    op.create_index("ix_referrals_referrer_id", "referrals", ["referrer_id"])
    op.create_table("referral_rewards", _c("referee_id", S, _fk("referrals.referee_id"), primary_key=True),
                    _c("purchase_id", N, _fk("purchases.id")), _c("at", T))


def _sqlite_triggers() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for name in APPEND_ONLY:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {name}_no_{what.lower()} BEFORE {what} ON {name} "
                       f"BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END")
    op.execute("CREATE TRIGGER promo_codes_no_delete BEFORE DELETE ON promo_codes "
               "BEGIN SELECT RAISE(ABORT, 'promo_codes are never deleted'); END")
    op.execute(f"CREATE TRIGGER promo_codes_no_update BEFORE UPDATE OF {', '.join(PROMO_RULES)} "
               "ON promo_codes BEGIN SELECT RAISE(ABORT, 'promo code rules are append-only'); END")
