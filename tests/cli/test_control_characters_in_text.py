"""Personal text kept in the ledger holds no control character (issue 14,
part b2): refused at input, the same way, by every command that takes it."""

from __future__ import annotations

import pytest

BAD = ["A\x01nn", "An\x1b[31mn", "Ann\x7f", "An\tn", "An\nn", "An\x85n"]


@pytest.mark.parametrize("text", BAD)
def test_names_and_reasons_with_control_characters_are_refused(shop, tmp_path, text):
    shop.run("enroll", "kim", "--name", "Kim")
    before = shop.snapshot()
    shop.fail("enroll", "ann", "--name", text, contains="Error: name holds a control character (U+")
    shop.fail("edit", "kim", "--name", text, contains="Error: name holds a control character (U+")
    shop.fail("adjust", "kim", "5", "--reason", text, contains="Error: --reason holds a control character (U+")
    f = tmp_path / "m.csv"
    f.write_text('member,name\nbob,"' + text + '"\n', newline="")
    r = shop.invoke("import", "members", str(f))
    assert r.exit_code == 1 and "name holds a control character (U+" in r.stderr + r.stdout
    assert shop.snapshot() == before


def test_a_nul_in_a_name_is_refused_too(shop):
    shop.fail("enroll", "ann", "--name", "A\x00nn", contains="NUL")
    assert shop.sql("SELECT count(*) FROM members") == [(0,)]


def test_plain_names_and_reasons_still_work(shop):
    shop.run("enroll", "ann", "--name", "  Ann   Tamm ")
    shop.run("adjust", "ann", "5", "--reason", "a  goodwill gift")
    assert shop.sql("SELECT name FROM members") == [("Ann Tamm",)]
