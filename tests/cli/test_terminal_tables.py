"""Tables on a terminal with pathological values (issue 14): at 80 and 120
columns no id, date, amount, e-mail or order id is cut or split over lines, no
header word is split, and a table too wide for the terminal becomes field /
value lines rather than truncated columns. Drawn in-process by rich with a
forced terminal of a given width (the pty test in test_cli_basics covers a
real terminal)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loyalty_cli.cli import render

LONG_ID = "averyveryveryverylongmemberid-000000000001"
LONG_NAME = "Featherstonehaugh-Cholmondeley-Wilhelmina-Bartholomew-Smythe"
LONG_EMAIL = "maria.elisabeth.konstantinopoulou@really-long-domain-name.example.com"
ORDER = "ORD-" + "X" * 60
ORDER2 = "ORD-" + "Y" * 60


@pytest.fixture
def tty(monkeypatch):
    """shop.invoke with stdout taken for a terminal `width` columns wide."""
    state = {"width": 80}
    draw = render._rich_tables
    monkeypatch.setattr(render, "_is_terminal", lambda out: True)
    monkeypatch.setattr(render, "_rich_tables",
                        lambda views, out: draw(views, out, force_terminal=True, width=state["width"]))
    monkeypatch.setenv("NO_COLOR", "1")

    def show(shop, width, *args):
        state["width"] = width
        r = shop.invoke(*args)
        assert r.exit_code == 0, r.stdout + r.stderr
        text = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout)
        lines = [line.rstrip() for line in text.splitlines()]
        assert "…" not in text, text
        assert all(len(line) <= width for line in lines), text
        return text, lines
    return show


SAMPLE = (Path(__file__).resolve().parents[2] / "loyalty_cli" / "sample_config.toml").read_text(encoding="utf-8")


@pytest.fixture
def odd_shop(make_shop):
    shop = make_shop(SAMPLE)  # tiers, a welcome bonus, referrals: as `loyalty init --sample`
    shop.run("enroll", "kai", "--name", LONG_NAME, "--email", "k@example.com", "--date", "2026-01-01")
    shop.run("enroll", "lee", "--name", "Lee", "--email", LONG_EMAIL, "--date", "2026-01-01")
    shop.run("enroll", LONG_ID, "--name", "Featherstonehaugh Cholmondeley", "--date", "2026-01-01")
    code = shop.json("referral", LONG_ID)["code"]
    shop.run("enroll", "mo", "--name", "Mo Featherstonehaugh", "--referral", code, "--date", "2026-01-05")
    shop.run("purchase", "kai", "123456.78", "--date", "2026-01-02")
    shop.run("purchase", "lee", "10.00", "--order", ORDER, "--date", "2026-02-01")
    shop.run("refund", ORDER, "--amount", "1.00", "--date", "2026-02-02")
    shop.run("purchase", LONG_ID, "55.00", "--date", "2026-01-03")
    return shop


def whole(lines, *values):
    for v in values:
        assert any(v in line for line in lines), f"{v!r} is not whole on one line:\n" + "\n".join(lines)


HEADER_WORDS = ("Member", "Points", "Balance", "Kind", "Date", "Tier", "Joined", "Status", "Expiring",
                "purchase", "Refunded", "Order", "Paid w/ points")


def no_split_headers(text):
    for word in HEADER_WORDS:
        for cut in range(2, len(word) - 1):  # "Mem" on a line and "ber" under it
            assert not re.search(rf"(^|\s){re.escape(word[:cut])}\s*\n.*?\s{re.escape(word[cut:])}(\s|$)", text), word


@pytest.mark.parametrize("width", [80, 120])
def test_pathological_values_are_never_cut_or_split(odd_shop, tty, width):
    s = odd_shop
    text, lines = tty(s, width, "members")
    whole(lines, LONG_ID, "kai", "lee", "123506", "Bronze", "Gold")
    no_split_headers(text)
    text, lines = tty(s, width, "balance")
    whole(lines, LONG_ID, "123506")
    text, lines = tty(s, width, "expiring", "--within", "400")
    whole(lines, LONG_ID, "2026-12-31")
    no_split_headers(text)
    text, lines = tty(s, width, "history", "lee")
    whole(lines, ORDER, "2026-01-01", "2026-02-01", "2026-02-02", "welcome", "refund")
    no_split_headers(text)
    text, lines = tty(s, width, "show", "lee")
    whole(lines, LONG_EMAIL, ORDER, "qualifying", "lifetime spend", "expiring soon")
    text, lines = tty(s, width, "lapsed")
    whole(lines, LONG_ID, "2026-01-03")
    if "Spend" not in text.partition("Not shown at this width")[2]:  # left out at 120, where the long name takes the room
        whole(lines, "123456.78")
    no_split_headers(text)
    text, lines = tty(s, width, "referral", LONG_ID)
    whole(lines, LONG_ID, "mo", "2026-01-05", "pending", "Status", "Joined")
    no_split_headers(text)
    text, lines = tty(s, width, "purchase", "kai", "10.00", "--order", ORDER2, "--redeem", "100", "--date", "2026-02-03")
    whole(lines, ORDER2, "Paid w/ points", "10.00", "1.00")
    text, lines = tty(s, width, "refund", ORDER2, "--amount", "1.00", "--date", "2026-02-04")
    whole(lines, ORDER2, "Points back", "Refunded")


def test_a_long_name_folds_after_its_hyphens_only_when_nothing_else_fits(shop, tty):
    shop.run("enroll", "kai", "--name", LONG_NAME, "--date", "2026-01-01")
    shop.run("enroll", "bo", "--name", "Featherstonehaugh Cholmondeley", "--date", "2026-01-01")
    text, lines = tty(shop, 80, "balance")
    assert "─" in text  # still a table
    whole(lines, "Featherstonehaugh Cholmondeley")  # ordinary words never fold
    whole(lines, "Featherstonehaugh-Cholmondeley-Wilhelmina-", "Bartholomew-Smythe")  # broken after a hyphen
    text, lines = tty(shop, 120, "balance")
    whole(lines, LONG_NAME)


def test_a_table_that_fits_is_still_a_table(shop, tty):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--email", "anna@example.com", "--date", "2026-01-01")
    text, lines = tty(shop, 80, "members")
    assert "─" in text and "anna@example.com" in text and "Marketing" in text
