"""The ledger's tables (SQLModel), portable across SQLite and PostgreSQL.

``entries`` is the ledger proper: every point movement, signed, append-only.
Each credit entry (points > 0) is a *lot*; every debit (points < 0) records in
``allocations`` which lots it consumed, so expiry, FIFO and "nothing spent that
was not available" are facts in the data, not recomputed guesses.
``members.points`` caches the balance and changes only in the transaction that
writes the entry it sums.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, DateTime, Index
from sqlmodel import Field, SQLModel

# Date-times are naive, in the programme's timezone (see dates.py); the
# columns say so explicitly with sa_type=DateTime.

# Kinds of ledger entry. Credits are lots; debits consume lots.
KINDS = (
    "welcome",  # + welcome bonus on enrolment
    "earn",  # + points a purchase earned
    "redeem",  # - points spent (catalogue reward, points, or part of a purchase)
    "refund",  # - points clawed back by a refund
    "restore",  # + points that paid for a refunded purchase, given back
    "adjust",  # +/- goodwill or correction, with a reason
    "award",  # + points for a configured action
    "promo",  # + bonus points from a promo code
    "referral",  # + referral reward, to the referrer and to the friend
    "birthday",  # + birthday bonus, once per member per year
    "expire",  # - points whose time ran out (one entry per member and day)
)


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "schema_version"
    version: int = Field(primary_key=True)
    name: str
    applied_at: datetime = Field(sa_type=DateTime)


class Member(SQLModel, table=True):
    __tablename__ = "members"
    id: str = Field(primary_key=True, max_length=64)
    name: str | None = None
    email: str | None = Field(default=None, unique=True)
    phone: str | None = Field(default=None, unique=True)
    birthday: date | None = None
    enrolled_at: datetime = Field(sa_type=DateTime)
    marketing: bool = False
    marketing_at: datetime | None = Field(default=None, sa_type=DateTime)  # when consent to marketing was given or withdrawn
    points: int = 0  # cached balance = sum of this member's entries
    forgotten_at: datetime | None = Field(default=None, sa_type=DateTime)  # personal data erased (schema version 5)


class Purchase(SQLModel, table=True):
    __tablename__ = "purchases"
    __table_args__ = (Index("ix_purchases_member_at", "member_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(unique=True)
    member_id: str = Field(foreign_key="members.id")
    at: datetime = Field(sa_type=DateTime)
    amount: int  # minor units, as rung up
    discount: int  # minor units
    points_redeemed: int
    points_paid: int  # minor units paid with points
    net: int  # minor units: amount - discount - points_paid
    points_earned: int
    rounding: str  # the rule in force when the points were earned (for refunds)
    recorded_at: datetime = Field(sa_type=DateTime)


class Refund(SQLModel, table=True):
    __tablename__ = "refunds"
    id: int | None = Field(default=None, primary_key=True)
    purchase_id: int = Field(foreign_key="purchases.id", index=True)
    at: datetime = Field(sa_type=DateTime)
    amount: int  # part of the purchase's amount refunded, minor units
    net: int  # spend taken back, minor units
    points: int  # earned points taken back
    points_restored: int  # redeemed points given back
    recorded_at: datetime = Field(sa_type=DateTime)


class Entry(SQLModel, table=True):
    __tablename__ = "entries"
    __table_args__ = (
        Index("ix_entries_member_at", "member_id", "at"),
        Index("ix_entries_order", "order_id"),  # added in schema version 3
        Index("ix_entries_expires", "expires_on"),  # added in schema version 4
        CheckConstraint("points <> 0", name="ck_entries_points_nonzero"),
    )
    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(foreign_key="members.id")
    at: datetime = Field(sa_type=DateTime)
    kind: str
    points: int
    order_id: str | None = None
    action: str | None = None  # for kind 'award'
    note: str | None = None
    reverses: int | None = Field(default=None, foreign_key="entries.id")
    expires_on: date | None = None  # credits: the day their remaining points expire
    available_on: date | None = None  # credits: pending until this day
    recorded_at: datetime = Field(sa_type=DateTime)
    hash: str | None = None  # sha256 chained to the previous entry (chain.py); added in schema version 5


class Allocation(SQLModel, table=True):
    __tablename__ = "allocations"
    __table_args__ = (CheckConstraint("points > 0", name="ck_allocations_points_positive"),)
    id: int | None = Field(default=None, primary_key=True)
    debit_id: int = Field(foreign_key="entries.id", index=True)
    credit_id: int = Field(foreign_key="entries.id", index=True)
    points: int


class TierChange(SQLModel, table=True):
    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_member_at", "member_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(foreign_key="members.id")
    at: datetime = Field(sa_type=DateTime)
    from_tier: str | None = None
    to_tier: str


class PromoCode(SQLModel, table=True):
    """A promo code and its rules. Rows are never deleted; only `disabled_at`
    may change (a trigger refuses any other update on SQLite)."""

    __tablename__ = "promo_codes"
    id: int | None = Field(default=None, primary_key=True)
    code: str  # as shown: upper case, as created or generated
    key: str = Field(unique=True)  # normalised, what input is matched on
    effect: str  # percent | amount | points | multiplier
    value: str  # percent or multiplier as a decimal string, amount in minor units, or points
    min_purchase: int = 0  # minor units, compared with the purchase amount
    starts: date | None = None
    expires: date | None = None  # last day the code is valid
    max_uses: int | None = None
    per_member: int | None = None
    first_purchase: bool = False
    tier: str | None = None  # this tier or a higher one
    member_id: str | None = Field(default=None, foreign_key="members.id")  # a personal code
    batch: str | None = None  # codes generated together with --count
    created_at: datetime = Field(sa_type=DateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=DateTime)


class PromoUse(SQLModel, table=True):
    __tablename__ = "promo_uses"
    __table_args__ = (Index("ix_promo_uses_promo_member", "promo_id", "member_id"),)
    id: int | None = Field(default=None, primary_key=True)
    promo_id: int = Field(foreign_key="promo_codes.id")
    member_id: str = Field(foreign_key="members.id")
    purchase_id: int = Field(foreign_key="purchases.id", unique=True)
    at: datetime = Field(sa_type=DateTime)
    discount: int  # minor units
    bonus_points: int


class ReferralCode(SQLModel, table=True):
    __tablename__ = "referral_codes"
    member_id: str = Field(primary_key=True, foreign_key="members.id")
    code: str
    key: str = Field(unique=True)
    created_at: datetime = Field(sa_type=DateTime)


class Referral(SQLModel, table=True):
    """Who referred whom. The referee is the key: nobody is referred twice."""

    __tablename__ = "referrals"
    referee_id: str = Field(primary_key=True, foreign_key="members.id")
    referrer_id: str = Field(foreign_key="members.id", index=True)
    at: datetime = Field(sa_type=DateTime)


class ReferralReward(SQLModel, table=True):
    """A referral paid out. The referee is the key: paid at most once."""

    __tablename__ = "referral_rewards"
    referee_id: str = Field(primary_key=True, foreign_key="referrals.referee_id")
    purchase_id: int = Field(foreign_key="purchases.id")
    at: datetime = Field(sa_type=DateTime)


class Meta(SQLModel, table=True):
    """Facts about the ledger itself, such as the currency its amounts are
    kept in (amounts are minor units, so the currency can never change)."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class BirthdayBonus(SQLModel, table=True):
    """A birthday bonus paid. (member, year) is the key: once a year at most,
    however often `birthdays` or `daily` runs."""

    __tablename__ = "birthday_bonuses"
    member_id: str = Field(primary_key=True, foreign_key="members.id")
    year: int = Field(primary_key=True)
    entry_id: int = Field(foreign_key="entries.id", unique=True)


members = Member.__table__
purchases = Purchase.__table__
refunds = Refund.__table__
entries = Entry.__table__
allocations = Allocation.__table__
tier_changes = TierChange.__table__
schema_version = SchemaVersion.__table__
promo_codes = PromoCode.__table__
promo_uses = PromoUse.__table__
referral_codes = ReferralCode.__table__
referrals = Referral.__table__
referral_rewards = ReferralReward.__table__
meta = Meta.__table__
birthday_bonuses = BirthdayBonus.__table__

# The tables each schema version adds (migrations create exactly these).
V1_TABLES = (schema_version, members, purchases, refunds, entries, allocations, tier_changes)
V2_TABLES = (promo_codes, promo_uses, referral_codes, referrals, referral_rewards)
V3_TABLES = (meta,)
V4_TABLES = (birthday_bonuses,)
V5_COLUMNS = (entries.c.hash, members.c.forgotten_at)

# Tables whose rows are never changed or removed once written.
APPEND_ONLY = ("entries", "allocations", "purchases", "refunds", "tier_changes", "schema_version",
               "promo_uses", "referral_codes", "referrals", "referral_rewards", "birthday_bonuses")
