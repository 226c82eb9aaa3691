"""What the database itself guarantees, whatever writes to it: 64-bit
amounts and points, CHECK constraints, append-only tables (triggers on
both backends), and the least-privilege grants of docs/postgresql.md."""

from __future__ import annotations

import pytest

from tests.conftest import clean

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def test_amounts_and_points_beyond_32_bits(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2025-01-10")
    shop.run("purchase", "anna", "30000000.00", "--order", "BIG1", "--date", "2025-01-11")
    shop.run("adjust", "anna", "3000000000", "--reason", "beyond 2^31", "--date", "2025-01-12")
    assert shop.sql("SELECT amount, net FROM purchases WHERE order_id = 'BIG1'") == [(3_000_000_000, 3_000_000_000)]
    [member] = shop.json("balance", "anna", "--as-of", "2025-01-13")
    assert member["points"] > 2**31 and member["points"] == shop.sql("SELECT points FROM members")[0][0]
    clean(shop)
