"""The hash chain's sealing, pure: `chain.sealed` (what `posting.post` uses,
dates' texts made once per batch) links entries exactly as `chain.digest`
(what `verify` recomputes from the stored text) says."""

from __future__ import annotations

from datetime import date, datetime

from loyalty_cli.store import chain


def test_sealed_links_each_entry_to_the_one_before_as_digest_does():
    at = datetime(2026, 1, 2, 9, 15, 0, 250)
    recorded = datetime(2026, 1, 2, 7, 15)
    rows = [("anna", at, "earn", 12, "A1", None, None, None, date(2027, 1, 2), None, recorded),
            ("anna", at, "redeem", -5, None, None, "Free coffee", None, None, None, recorded),
            ("bob", datetime(2026, 1, 3), "award", 20, None, "review", "review", None, None, date(2026, 1, 10),
             recorded),
            ("bob", datetime(2026, 1, 3), "refund", -3, "B1", None, "refünd", 3, None, None, recorded)]
    out = chain.sealed((41, "ab" * 32), rows)
    h = "ab" * 32
    for n, (row, got) in enumerate(zip(rows, out, strict=True), start=42):
        h = chain.digest(h, (n, *row))
        assert got == (n, *row, h)


def test_sealed_from_an_empty_ledger_starts_at_one_from_genesis():
    row = ("anna", datetime(2026, 1, 2), "welcome", 50, None, None, "welcome bonus", None, None, None,
           datetime(2026, 1, 2))
    (got,) = chain.sealed((0, chain.GENESIS), [row])
    assert got[0] == 1 and got[-1] == chain.digest(chain.GENESIS, (1, *row))
    assert chain.sealed((0, chain.GENESIS), []) == []


def test_digest_is_the_documented_scheme():
    """sha256 of the compact JSON array [previous hash, FIELDS values as SQLite
    stores them]: ledgers sealed by earlier versions still verify."""
    import hashlib
    import json

    values = (7, "anna", datetime(2026, 1, 2, 9, 15), "earn", 12, "Ä1", None, None, None, date(2027, 1, 2), None,
              datetime(2026, 1, 2, 7, 15, 1))
    texts = [v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else
             v.isoformat() if isinstance(v, date) else v for v in values]
    body = json.dumps([chain.GENESIS, *texts], ensure_ascii=False, separators=(",", ":"))
    assert chain.digest(chain.GENESIS, values) == hashlib.sha256(body.encode("utf-8")).hexdigest()


def test_the_text_the_hash_covers_is_what_sqlite_stores():
    """`sealed(as_text=True)` hands SQLite the texts it hashed, instead of
    SQLAlchemy's bind processors: they must be the very same text."""
    from sqlalchemy.dialects import sqlite

    from loyalty_cli.store.models import entries

    dialect = sqlite.dialect()
    for column, values in (("at", [datetime(1900, 1, 1), datetime(2026, 3, 29, 3, 30, 59, 999999),
                                   datetime(9998, 12, 31, 23, 59, 59)]),
                           ("recorded_at", [datetime(2026, 1, 2, 7, 15, 1)]),
                           ("expires_on", [date(1900, 1, 1), date(2027, 1, 2), date(9998, 12, 31)]),
                           ("available_on", [date(2026, 2, 28)])):
        process = entries.c[column].type.dialect_impl(dialect).bind_processor(dialect)
        for v in values:
            assert chain._text(v) == process(v), (column, v)
    row = ("anna", datetime(2026, 1, 2, 9, 15), "earn", 12, "A1", None, None, None, date(2027, 1, 2), None,
           datetime(2026, 1, 2, 7, 15))
    (plain,), (text,) = chain.sealed((3, chain.GENESIS), [row]), chain.sealed((3, chain.GENESIS), [row], as_text=True)
    assert text == (4, "anna", "2026-01-02 09:15:00.000000", "earn", 12, "A1", None, None, None, "2027-01-02", None,
                    "2026-01-02 07:15:00.000000", plain[-1])


def test_a_seal_is_the_documented_scheme():
    """digest: sha256 of the sorted compact JSON of the non-NULL columns, each
    by its column's type; hash: sha256 of [previous, id, table, key, digest]."""
    import hashlib
    import json

    from loyalty_cli.store import seals

    row = {"id": 7, "member_id": "änna", "at": datetime(2026, 1, 2, 9, 15), "from_tier": None, "to_tier": "Gold"}
    body = '{"at":"2026-01-02T09:15:00.000000","id":7,"member_id":"änna","to_tier":"Gold"}'
    d = hashlib.sha256(body.encode("utf-8")).hexdigest()
    assert seals.content(seals.COLUMNS["tier_changes"], row) == body
    (got,) = seals.sealed((4, "ab" * 32), "tier_changes", [row])
    link = json.dumps(["ab" * 32, 5, "tier_changes", "7", d], ensure_ascii=False, separators=(",", ":"))
    assert got == (5, "tier_changes", "7", d, hashlib.sha256(link.encode("utf-8")).hexdigest())
    # booleans and dates by the column's type, whatever the driver gave
    kinds = seals.COLUMNS["promo_codes"]
    assert '"first_purchase":false' in seals.content(kinds, {"first_purchase": 0, "starts": date(2026, 3, 1)})
    assert '"starts":"2026-03-01"' in seals.content(kinds, {"first_purchase": 0, "starts": date(2026, 3, 1)})


def test_personal_data_and_the_cached_balance_are_outside_a_members_seal():
    from loyalty_cli.store import seals

    assert set(seals.COLUMNS["members"]) == {"id", "enrolled_at", "marketing", "marketing_at", "forgotten_at"}


def test_the_upgrade_to_version_11_seals_what_today_seals():
    """The frozen revision's column lists are today's, until a later revision
    changes a table (then this test names what that revision must reseal)."""
    import importlib

    from loyalty_cli.store import seals

    v11 = importlib.import_module("loyalty_cli.store.migrations.versions.v11_seals")
    assert list(v11.TABLES) == list(seals.SEALED)
    for name, (key, kinds) in v11.TABLES.items():
        assert (key, kinds) == (seals.SEALED[name][0], seals.COLUMNS[name]), name
