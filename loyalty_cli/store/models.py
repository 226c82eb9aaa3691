"""The ledger's tables, portable across SQLite and PostgreSQL.

``entries`` is the ledger proper: every point movement, signed, append-only.
Each credit entry (points > 0) is a *lot*; every debit (points < 0) records in
``allocations`` which lots it consumed, so expiry, FIFO and "nothing spent that
was not available" are facts in the data, not recomputed guesses.
``members.points`` caches the balance and changes only in the transaction that
writes the entry it sums.

The tables are declared with SQLModel's table API on ``SQLModel.metadata``,
not as SQLModel model classes: every query and write in loyalty works on the
tables themselves (SQL expressions, rows as tuples), never on model
instances, and building the 14 model classes (a pydantic model and an ORM
mapper each) cost about a tenth of a second of every command's start-up
(benchmarks/README.md). Strings are SQLModel's ``AutoString``, columns are
NOT NULL unless marked ``nullable=True``.

These tables are what the code reads and writes; they never create the
schema. A ledger's schema is made only by the frozen migrations in
``store/migrations`` (tests/cli/test_upgrade.py checks that a fresh ledger and
an upgraded one agree): a change here needs a new revision there too.
"""

from __future__ import annotations

from sqlmodel import (
    AutoString,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SQLModel,
    Table,
)

metadata = SQLModel.metadata

# Date-times are naive, in the programme's timezone (see dates.py).

# Kinds of ledger entry (entries.kind). Credits are lots; debits consume lots.
#   welcome   + welcome bonus on enrolment
#   earn      + points a purchase earned
#   redeem    - points spent (catalogue reward, points, or part of a purchase)
#   refund    - points clawed back by a refund
#   restore   + points that paid for a refunded purchase, given back
#   adjust    +/- goodwill or correction, with a reason
#   award     + points for a configured action
#   promo     + bonus points from a promo code
#   referral  + referral reward, to the referrer and to the friend
#   birthday  + birthday bonus, once per member per year
#   expire    - points whose time ran out (one entry per member and day)


def _col(name: str, type_, *args, nullable: bool = False, **kw) -> Column:
    """A column, NOT NULL unless said otherwise (as SQLModel makes them)."""
    return Column(name, type_, *args, nullable=nullable, **kw)


# 64-bit on PostgreSQL (schema version 7); INTEGER on SQLite, which is 64-bit already and must stay
# INTEGER for a primary key to be the rowid. Every amount, points, count and id column is one.
BIG = BigInteger().with_variant(Integer, "sqlite")


def _id() -> Column:
    return _col("id", BIG, primary_key=True)


schema_version = Table(
    "schema_version", metadata,
    _col("version", Integer, primary_key=True),
    _col("name", AutoString),
    _col("applied_at", DateTime),
)

members = Table(
    "members", metadata,
    _col("id", AutoString(64), primary_key=True),
    _col("name", AutoString, nullable=True),
    _col("email", AutoString, nullable=True, unique=True),
    _col("phone", AutoString, nullable=True, unique=True),
    _col("birthday", Date, nullable=True),
    _col("enrolled_at", DateTime),
    _col("marketing", Boolean, default=False),
    _col("marketing_at", DateTime, nullable=True),  # when consent to marketing was given or withdrawn
    _col("points", BIG, default=0),  # cached balance = sum of this member's entries
    _col("forgotten_at", DateTime, nullable=True),  # personal data erased (schema version 5)
)

purchases = Table(
    "purchases", metadata,
    _id(),
    _col("order_id", AutoString, unique=True),
    _col("member_id", AutoString, ForeignKey("members.id")),
    _col("at", DateTime),
    _col("amount", BIG),  # minor units, as rung up
    _col("discount", BIG),  # minor units
    _col("points_redeemed", BIG),
    _col("points_paid", BIG),  # minor units paid with points
    _col("net", BIG),  # minor units: amount - discount - points_paid
    _col("points_earned", BIG),
    _col("rounding", AutoString),  # the rule in force when the points were earned (for refunds)
    _col("recorded_at", DateTime),
    _col("store", AutoString(64), nullable=True),  # where it was rung up (schema version 7); refunds count there
    _col("till", AutoString(64), nullable=True),  # which till of the store (schema version 7)
    Index("ix_purchases_member_at", "member_id", "at"),
    Index("ix_purchases_store_at", "store", "at"),  # added in schema version 7
)

refunds = Table(
    "refunds", metadata,
    _id(),
    _col("purchase_id", BIG, ForeignKey("purchases.id"), index=True),
    _col("at", DateTime),
    _col("amount", BIG),  # part of the purchase's amount refunded, minor units
    _col("net", BIG),  # spend taken back, minor units
    _col("points", BIG),  # earned points taken back
    _col("points_restored", BIG),  # redeemed points given back
    _col("recorded_at", DateTime),
)

entries = Table(
    "entries", metadata,
    _id(),
    _col("member_id", AutoString, ForeignKey("members.id")),
    _col("at", DateTime),
    _col("kind", AutoString),
    _col("points", BIG),
    _col("order_id", AutoString, nullable=True),
    _col("action", AutoString, nullable=True),  # for kind 'award'
    _col("note", AutoString, nullable=True),
    _col("reverses", BIG, ForeignKey("entries.id"), nullable=True),
    _col("expires_on", Date, nullable=True),  # credits: the day their remaining points expire
    _col("available_on", Date, nullable=True),  # credits: pending until this day
    _col("recorded_at", DateTime),
    _col("hash", AutoString, nullable=True),  # sha256 chained to the previous entry (chain.py); schema version 5
    Index("ix_entries_member_at", "member_id", "at"),
    Index("ix_entries_order", "order_id"),  # added in schema version 3
    Index("ix_entries_expires", "expires_on"),  # added in schema version 4
    CheckConstraint("points <> 0", name="ck_entries_points_nonzero"),
)

allocations = Table(
    "allocations", metadata,
    _id(),
    _col("debit_id", BIG, ForeignKey("entries.id"), index=True),
    _col("credit_id", BIG, ForeignKey("entries.id"), index=True),
    _col("points", BIG),
    CheckConstraint("points > 0", name="ck_allocations_points_positive"),
)

tier_changes = Table(
    "tier_changes", metadata,
    _id(),
    _col("member_id", AutoString, ForeignKey("members.id")),
    _col("at", DateTime),
    _col("from_tier", AutoString, nullable=True),
    _col("to_tier", AutoString),
    Index("ix_tier_changes_member_at", "member_id", "at"),
)

# A promo code and its rules. Rows are never deleted; only `disabled_at` may
# change (a trigger refuses any other update on SQLite).
promo_codes = Table(
    "promo_codes", metadata,
    _id(),
    _col("code", AutoString),  # as shown: upper case, as created or generated
    _col("key", AutoString, unique=True),  # normalised, what input is matched on
    _col("effect", AutoString),  # percent | amount | points | multiplier
    _col("value", AutoString),  # percent or multiplier as a decimal string, amount in minor units, or points
    _col("min_purchase", BIG, default=0),  # minor units, compared with the purchase amount
    _col("starts", Date, nullable=True),
    _col("expires", Date, nullable=True),  # last day the code is valid
    _col("max_uses", BIG, nullable=True),
    _col("per_member", BIG, nullable=True),
    _col("first_purchase", Boolean, default=False),
    _col("tier", AutoString, nullable=True),  # this tier or a higher one
    _col("member_id", AutoString, ForeignKey("members.id"), nullable=True),  # a personal code
    _col("batch", AutoString, nullable=True),  # codes generated together with --count
    _col("created_at", DateTime),
    _col("disabled_at", DateTime, nullable=True),
)

promo_uses = Table(
    "promo_uses", metadata,
    _id(),
    _col("promo_id", BIG, ForeignKey("promo_codes.id")),
    _col("member_id", AutoString, ForeignKey("members.id")),
    _col("purchase_id", BIG, ForeignKey("purchases.id"), unique=True),
    _col("at", DateTime),
    _col("discount", BIG),  # minor units
    _col("bonus_points", BIG),
    Index("ix_promo_uses_promo_member", "promo_id", "member_id"),
)

referral_codes = Table(
    "referral_codes", metadata,
    _col("member_id", AutoString, ForeignKey("members.id"), primary_key=True),
    _col("code", AutoString),
    _col("key", AutoString, unique=True),
    _col("created_at", DateTime),
)

# Who referred whom. The referee is the key: nobody is referred twice.
referrals = Table(
    "referrals", metadata,
    _col("referee_id", AutoString, ForeignKey("members.id"), primary_key=True),
    _col("referrer_id", AutoString, ForeignKey("members.id"), index=True),
    _col("at", DateTime),
)

# A referral paid out. The referee is the key: paid at most once.
referral_rewards = Table(
    "referral_rewards", metadata,
    _col("referee_id", AutoString, ForeignKey("referrals.referee_id"), primary_key=True),
    _col("purchase_id", BIG, ForeignKey("purchases.id")),
    _col("at", DateTime),
)

# Facts about the ledger itself, such as the currency its amounts are kept in
# (amounts are minor units, so the currency can never change).
meta = Table(
    "meta", metadata,
    _col("key", AutoString, primary_key=True),
    _col("value", AutoString),
)

# A birthday bonus paid. (member, year) is the key: once a year at most,
# however often `birthdays` or `daily` runs.
birthday_bonuses = Table(
    "birthday_bonuses", metadata,
    _col("member_id", AutoString, ForeignKey("members.id"), primary_key=True),
    _col("year", Integer, primary_key=True),
    _col("entry_id", BIG, ForeignKey("entries.id"), unique=True),
)

# Marketing consent over time: one row each time it was given or withdrawn
# (schema version 6), so a read as of a past day sees the consent of that day.
# `members.marketing` and `marketing_at` are the latest row, cached. `via` says
# how: enroll, edit, import, forget, or upgrade (rows made from the members'
# consent when a ledger was brought to version 6). No personal data.
consent_changes = Table(
    "consent_changes", metadata,
    _id(),
    _col("member_id", AutoString, ForeignKey("members.id")),
    _col("at", DateTime),  # business date-time, as the change was dated
    _col("marketing", Boolean),  # True: consent given; False: withdrawn
    _col("via", AutoString),
    _col("recorded_at", DateTime),
    Index("ix_consent_changes_member_at", "member_id", "at"),
    Index("ix_consent_changes_at", "at"),
)

# The seal of each row of the other tables written (store/seals.py): its table, its key as text,
# the sha256 of its canonical content and a hash chained to the seal before (schema version 11).
# A row loyalty rewrites (a member's consent or erasure, a promo code disabled, the daily mark) is
# sealed again; its newest seal is the one that counts.
seals = Table(
    "seals", metadata,
    _id(),
    _col("table_name", AutoString(32)),
    _col("row_key", AutoString),
    _col("digest", AutoString(64)),
    _col("hash", AutoString(64)),
    Index("ix_seals_row", "table_name", "row_key", "id"),
)

# Refunds with the purchase each refunds, for whole-ledger sums. The "+ 0"
# keeps SQLite from using the index on refunds.purchase_id, which made it walk
# every purchase looking for its refunds (0.4 s on 1,000,000 purchases and no
# refund) instead of looking up the purchase of each refund.
refunded_purchases = refunds.join(purchases, purchases.c.id == refunds.c.purchase_id + 0)

# The tables each schema version added (for benchmarks that build bare tables; the schema of a
# ledger is made by store/migrations only, never from these).
V1_TABLES = (schema_version, members, purchases, refunds, entries, allocations, tier_changes)
V2_TABLES = (promo_codes, promo_uses, referral_codes, referrals, referral_rewards)
V3_TABLES = (meta,)
V4_TABLES = (birthday_bonuses,)
V5_COLUMNS = (entries.c.hash, members.c.forgotten_at)
V6_TABLES = (consent_changes,)
V7_COLUMNS = (purchases.c.store, purchases.c.till)
V11_TABLES = (seals,)

# Tables whose rows are never changed or removed once written.
APPEND_ONLY = ("entries", "allocations", "purchases", "refunds", "tier_changes", "schema_version",
               "promo_uses", "referral_codes", "referrals", "referral_rewards", "birthday_bonuses",
               "consent_changes", "seals")
