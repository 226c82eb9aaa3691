"""Schema versions 1-6 as loyalty built them before Alembic, frozen.

These are the home-made migration steps of loyalty up to schema version 6,
with every table written out as it was in that version (not today's
``models``), so that a ledger made by an older loyalty is brought to version
6 exactly as it always was. Never edit them: a later change is a new Alembic
revision in ``versions/``. Version 1 is here too, though no ledger needs it
any more (every ledger has it): the upgrade tests build an old schema from it
on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    column,
    insert,
    inspect,
    select,
    table,
    update,
)


def _c(name, type_, *args, nullable=False, **kw) -> Column:
    return Column(name, type_, *args, nullable=nullable, **kw)


def _id() -> Column:
    return _c("id", Integer, primary_key=True)


def _append_only(conn: Connection, names) -> None:
    if conn.dialect.name != "sqlite":
        return
    for name in names:
        for op in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS {name}_no_{op.lower()} BEFORE {op} ON {name} "
                f"BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END")


def create_v1(conn: Connection) -> None:
    """Version 1: members, purchases, refunds, entries, allocations, tier changes."""
    md = MetaData()
    for t in (
        Table("schema_version", md, _c("version", Integer, primary_key=True), _c("name", String),
              _c("applied_at", DateTime)),
        Table("members", md, _c("id", String(64), primary_key=True), _c("name", String, nullable=True),
              _c("email", String, nullable=True, unique=True), _c("phone", String, nullable=True, unique=True),
              _c("birthday", Date, nullable=True), _c("enrolled_at", DateTime), _c("marketing", Boolean),
              _c("marketing_at", DateTime, nullable=True), _c("points", Integer)),
        Table("purchases", md, _id(), _c("order_id", String, unique=True),
              _c("member_id", String, ForeignKey("members.id")), _c("at", DateTime),
              *(_c(n, Integer) for n in ("amount", "discount", "points_redeemed", "points_paid", "net",
                                         "points_earned")),
              _c("rounding", String), _c("recorded_at", DateTime),
              Index("ix_purchases_member_at", "member_id", "at")),
        Table("refunds", md, _id(), _c("purchase_id", Integer, ForeignKey("purchases.id"), index=True),
              _c("at", DateTime), *(_c(n, Integer) for n in ("amount", "net", "points", "points_restored")),
              _c("recorded_at", DateTime)),
        Table("entries", md, _id(), _c("member_id", String, ForeignKey("members.id")), _c("at", DateTime),
              _c("kind", String), _c("points", Integer), _c("order_id", String, nullable=True),
              _c("action", String, nullable=True), _c("note", String, nullable=True),
              _c("reverses", Integer, ForeignKey("entries.id"), nullable=True),
              _c("expires_on", Date, nullable=True), _c("available_on", Date, nullable=True),
              _c("recorded_at", DateTime), Index("ix_entries_member_at", "member_id", "at"),
              CheckConstraint("points <> 0", name="ck_entries_points_nonzero")),
        Table("allocations", md, _id(), _c("debit_id", Integer, ForeignKey("entries.id"), index=True),
              _c("credit_id", Integer, ForeignKey("entries.id"), index=True), _c("points", Integer),
              CheckConstraint("points > 0", name="ck_allocations_points_positive")),
        Table("tier_changes", md, _id(), _c("member_id", String, ForeignKey("members.id")), _c("at", DateTime),
              _c("from_tier", String, nullable=True), _c("to_tier", String),
              Index("ix_tier_changes_member_at", "member_id", "at")),
    ):
        t.create(conn, checkfirst=True)
    _append_only(conn, ("entries", "allocations", "purchases", "refunds", "tier_changes", "schema_version"))


def create_v2(conn: Connection) -> None:
    md = MetaData()
    _refs(md)
    Table("promo_codes", md, _id(), _c("code", String), _c("key", String, unique=True), _c("effect", String),
          _c("value", String), _c("min_purchase", Integer), _c("starts", Date, nullable=True),
          _c("expires", Date, nullable=True), _c("max_uses", Integer, nullable=True),
          _c("per_member", Integer, nullable=True), _c("first_purchase", Boolean),
          _c("tier", String, nullable=True), _c("member_id", String, ForeignKey("members.id"), nullable=True),
          _c("batch", String, nullable=True), _c("created_at", DateTime),
          _c("disabled_at", DateTime, nullable=True))
    Table("promo_uses", md, _id(), _c("promo_id", Integer, ForeignKey("promo_codes.id")),
          _c("member_id", String, ForeignKey("members.id")),
          _c("purchase_id", Integer, ForeignKey("purchases.id"), unique=True), _c("at", DateTime),
          _c("discount", Integer), _c("bonus_points", Integer),
          Index("ix_promo_uses_promo_member", "promo_id", "member_id"))
    Table("referral_codes", md, _c("member_id", String, ForeignKey("members.id"), primary_key=True),
          _c("code", String), _c("key", String, unique=True), _c("created_at", DateTime))
    Table("referrals", md, _c("referee_id", String, ForeignKey("members.id"), primary_key=True),
          _c("referrer_id", String, ForeignKey("members.id"), index=True), _c("at", DateTime))
    Table("referral_rewards", md, _c("referee_id", String, ForeignKey("referrals.referee_id"), primary_key=True),
          _c("purchase_id", Integer, ForeignKey("purchases.id")), _c("at", DateTime))
    md.create_all(conn, tables=[md.tables[n] for n in ("promo_codes", "promo_uses", "referral_codes",
                                                        "referrals", "referral_rewards")])
    _append_only(conn, ("promo_uses", "referral_codes", "referrals", "referral_rewards"))
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE TRIGGER IF NOT EXISTS promo_codes_no_delete BEFORE DELETE ON promo_codes "
            "BEGIN SELECT RAISE(ABORT, 'promo_codes are never deleted'); END")
        cols = ("id", "code", "key", "effect", "value", "min_purchase", "starts", "expires", "max_uses",
                "per_member", "first_purchase", "tier", "member_id", "batch", "created_at")
        conn.exec_driver_sql(
            f"CREATE TRIGGER IF NOT EXISTS promo_codes_no_update BEFORE UPDATE OF {', '.join(cols)} "
            "ON promo_codes BEGIN SELECT RAISE(ABORT, 'promo code rules are append-only'); END")


def _refs(md: MetaData) -> None:
    """The tables later versions' foreign keys point at, by key only (never created here)."""
    Table("members", md, Column("id", String(64), primary_key=True))
    Table("purchases", md, Column("id", Integer, primary_key=True))
    Table("entries", md, Column("id", Integer, primary_key=True))


def create_v3(conn: Connection) -> None:
    md = MetaData()
    meta = Table("meta", md, _c("key", String, primary_key=True), _c("value", String))
    md.create_all(conn, tables=[meta])
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_entries_order ON entries (order_id)")


def create_v4(conn: Connection) -> None:
    md = MetaData()
    _refs(md)
    bonuses = Table("birthday_bonuses", md, _c("member_id", String, ForeignKey("members.id"), primary_key=True),
                    _c("year", Integer, primary_key=True),
                    _c("entry_id", Integer, ForeignKey("entries.id"), unique=True))
    md.create_all(conn, tables=[bonuses])
    _append_only(conn, ("birthday_bonuses",))
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_entries_expires ON entries (expires_on)")


# Version 5's chain, as it was: the hash of an entry is sha256 of its predecessor's hash and these
# fields, as SQLite stores them, in a compact JSON array.
_FIELDS = ("id", "member_id", "at", "kind", "points", "order_id", "action", "note", "reverses",
           "expires_on", "available_on", "recorded_at")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _text(v):
    if isinstance(v, datetime):
        return f"{v:%Y-%m-%d %H:%M:%S.%f}"
    if isinstance(v, date):
        return v.isoformat()
    return v


def _digest(previous: str, values) -> str:
    return hashlib.sha256(_encode([previous, *map(_text, values)]).encode("utf-8")).hexdigest()


def create_v5(conn: Connection) -> None:
    """The hash chain over entries, and members.forgotten_at. Existing entries
    are sealed in id order, as they stand."""
    for tbl, col, kind in (("entries", "hash", "VARCHAR"), ("members", "forgotten_at", "DATETIME")):
        if col not in {c["name"] for c in inspect(conn).get_columns(tbl)}:
            kind = "TIMESTAMP WITHOUT TIME ZONE" if kind == "DATETIME" and conn.dialect.name == "postgresql" else kind
            conn.exec_driver_sql(f"ALTER TABLE {tbl} ADD COLUMN {col} {kind}")
    dated = {"at": DateTime, "expires_on": Date, "available_on": Date, "recorded_at": DateTime}
    entries = table("entries", *(column(f, dated.get(f)) for f in _FIELDS), column("hash"))
    todo = conn.execute(select(*(entries.c[f] for f in _FIELDS)).where(entries.c.hash.is_(None))
                        .order_by(entries.c.id)).all()
    if not todo:
        return
    if conn.dialect.name == "sqlite":  # sealing old entries is the one update entries ever get
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS entries_no_update")
    h = conn.execute(select(entries.c.hash).where(entries.c.id < todo[0].id)
                     .order_by(entries.c.id.desc()).limit(1)).scalar() or "0" * 64
    sealed = []
    for row in todo:
        h = _digest(h, row)
        sealed.append({"i": row.id, "h": h})
    conn.execute(update(entries).where(entries.c.id == bindparam("i")).values(hash=bindparam("h")), sealed)
    _append_only(conn, ("entries",))


def create_v6(conn: Connection) -> None:
    """Marketing consent as dated history: each member's consent as it stands
    becomes its first row (via 'upgrade')."""
    md = MetaData()
    _refs(md)
    consent = Table("consent_changes", md, _id(), _c("member_id", String, ForeignKey("members.id")),
                    _c("at", DateTime), _c("marketing", Boolean), _c("via", String), _c("recorded_at", DateTime),
                    Index("ix_consent_changes_member_at", "member_id", "at"),
                    Index("ix_consent_changes_at", "at"))
    md.create_all(conn, tables=[consent])
    _append_only(conn, ("consent_changes",))
    m = table("members", column("id"), column("marketing", Boolean), column("marketing_at", DateTime),
              column("enrolled_at", DateTime))
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    rows = [{"member_id": r.id, "at": r.marketing_at or r.enrolled_at, "marketing": bool(r.marketing),
             "via": "upgrade", "recorded_at": now}
            for r in conn.execute(select(m.c.id, m.c.marketing, m.c.marketing_at, m.c.enrolled_at)
                                  .where((m.c.marketing.is_(True)) | m.c.marketing_at.is_not(None))
                                  .order_by(m.c.id))]
    for i in range(0, len(rows), 1000):
        conn.execute(insert(consent), rows[i:i + 1000])


# (version, name, step): the names are those the old loyalty recorded in schema_version.
STEPS = [
    (1, "initial schema: members, purchases, refunds, entries, allocations, tier changes", create_v1),
    (2, "promo codes and their uses, referral codes, referrals and their rewards", create_v2),
    (3, "ledger facts (its currency); index on entries.order_id", create_v3),
    (4, "birthday bonuses paid; index on entries.expires_on", create_v4),
    (5, "hash chain over entries; members.forgotten_at", create_v5),
    (6, "marketing consent as dated history (consent_changes)", create_v6),
]
