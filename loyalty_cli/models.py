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


members = Member.__table__
purchases = Purchase.__table__
refunds = Refund.__table__
entries = Entry.__table__
allocations = Allocation.__table__
tier_changes = TierChange.__table__
schema_version = SchemaVersion.__table__

# Tables whose rows are never changed or removed once written.
APPEND_ONLY = ("entries", "allocations", "purchases", "refunds", "tier_changes", "schema_version")
