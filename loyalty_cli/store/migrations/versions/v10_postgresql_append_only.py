"""Append-only on PostgreSQL: triggers refuse UPDATE, DELETE and TRUNCATE as SQLite's do.

The tables that are only ever appended to refuse any UPDATE, DELETE or
TRUNCATE, and promo_codes refuses DELETE, TRUNCATE and an UPDATE of any
column but disabled_at (the one thing `promo disable` changes), with the
messages SQLite's triggers give. What loyalty itself updates is untouched:
members (the cached balance, personal data, consent, `forget`'s erasure) and
meta (the daily run's mark). One plpgsql function raises the refusal; each
trigger passes it its message. SQLite has had its triggers since version 1
(and TRUNCATE does not exist there), so nothing changes on SQLite.
"""

from __future__ import annotations

from alembic import op

revision = "v10"
down_revision = "v09"
SCHEMA_VERSION = 10

APPEND_ONLY = ("entries", "allocations", "purchases", "refunds", "tier_changes", "schema_version",
               "promo_uses", "referral_codes", "referrals", "referral_rewards", "birthday_bonuses",
               "consent_changes")
PROMO_RULES = ("id", "code", "key", "effect", "value", "min_purchase", "starts", "expires", "max_uses",
               "per_member", "first_purchase", "tier", "member_id", "batch", "created_at")


def _trigger(name: str, when: str, table: str, message: str, *, each: str = "ROW") -> None:
    op.execute(f"CREATE TRIGGER {name} BEFORE {when} ON {table} FOR EACH {each} "
               f"EXECUTE FUNCTION loyalty_refuse('{message}')")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("CREATE FUNCTION loyalty_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation'; END $$")
    for table in APPEND_ONLY:
        message = f"{table} is append-only"
        _trigger(f"{table}_no_update", "UPDATE", table, message)
        _trigger(f"{table}_no_delete", "DELETE", table, message)
        _trigger(f"{table}_no_truncate", "TRUNCATE", table, message, each="STATEMENT")
    _trigger("promo_codes_no_delete", "DELETE", "promo_codes", "promo_codes are never deleted")
    _trigger("promo_codes_no_truncate", "TRUNCATE", "promo_codes", "promo_codes are never deleted", each="STATEMENT")
    _trigger("promo_codes_no_update", f"UPDATE OF {', '.join(PROMO_RULES)}", "promo_codes",
             "promo code rules are append-only")
