"""A bare --date on a consent change (edit --marketing/--no-marketing, forget's
withdrawal) means that day after everything already recorded for the member
that day, as for every other write (issue 14: it was refused when that day
already had a change at 15:00)."""

from tests.conftest import clean


def test_a_bare_date_consent_change_comes_after_the_day_s_earlier_ones(shop):
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-06-01")
    shop.run("edit", "bob", "--marketing", "--date", "2026-07-01T15:00")
    shop.run("edit", "bob", "--no-marketing", "--date", "2026-07-01")
    shop.run("edit", "bob", "--marketing", "--date", "2026-07-01")
    bob = shop.json("show", "bob")
    assert (bob["marketing"], bob["marketing_at"]) == (True, "2026-07-01T15:00:00")
    assert shop.sql("SELECT at, marketing FROM consent_changes WHERE member_id = 'bob' ORDER BY id") == [
        ("2026-07-01 15:00:00.000000", 1), ("2026-07-01 15:00:00.000000", 0), ("2026-07-01 15:00:00.000000", 1)]
    # an explicit earlier time is still refused, and writes nothing
    before = shop.snapshot()
    shop.fail("edit", "bob", "--no-marketing", "--date", "2026-07-01T09:00", contains="would come before it")
    assert shop.snapshot() == before
    # forget's withdrawal dated that bare day: after the 15:00 changes too
    shop.run("forget", "bob", "--yes", "--date", "2026-07-01")
    assert shop.sql("SELECT at, via FROM consent_changes WHERE member_id = 'bob' ORDER BY id DESC LIMIT 1") == [
        ("2026-07-01 15:00:00.000000", "forget")]
    assert shop.sql("SELECT forgotten_at, marketing, marketing_at FROM members WHERE id = 'bob'") == [
        ("2026-07-01 15:00:00.000000", 0, "2026-07-01 15:00:00.000000")]
    clean(shop)


def test_a_bare_date_consent_change_on_another_day_stays_at_its_start(shop):
    shop.run("enroll", "cara", "--name", "Cara", "--date", "2026-06-01", "--marketing")
    shop.run("edit", "cara", "--no-marketing", "--date", "2026-06-30T15:00")
    shop.run("edit", "cara", "--marketing", "--date", "2026-07-01")
    assert shop.json("show", "cara")["marketing_at"] == "2026-07-01T00:00:00"
    clean(shop)
