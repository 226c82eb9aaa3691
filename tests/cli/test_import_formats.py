"""Import: the file shapes a shop's tools really write (issue 14): Excel's
"Unicode Text", UTF-16 without a BOM, and encodings that are not plain text."""

import pytest

ROWS = [["Name", "Email", "Total", "Date"], ["Anna", "anna", "5.00", "2026-01-02"]]
MAP = ["--map", "member=Email", "--map", "amount=Total"]


def _unicode_text(tmp_path):
    """What Excel's Save As "Unicode Text" writes: UTF-16LE with a BOM, TAB-separated."""
    f = tmp_path / "excel.txt"
    f.write_bytes("\ufeff".encode("utf-16-le") + "".join("\t".join(r) + "\r\n" for r in ROWS).encode("utf-16-le"))
    return f


def test_excels_unicode_text_is_read_with_its_tab_delimiter(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = _unicode_text(tmp_path)
    r = shop.json("import", "purchases", f, *MAP)
    assert (r["read"], r["added"]) == (1, 1)
    assert shop.sql("SELECT member_id, amount FROM purchases") == [("anna", 500)]


@pytest.mark.parametrize("typed", ["tab", "TAB", "\\t", "\\\\t", "\t"])
def test_delimiter_tab_can_be_typed_as_a_word_or_an_escape(shop, tmp_path, typed):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    r = shop.json("import", "purchases", _unicode_text(tmp_path), *MAP, "--delimiter", typed, "--dry-run")
    assert (r["read"], r["added"]) == (1, 1)


def test_a_header_that_looks_tab_separated_under_a_comma_delimiter_names_delimiter(shop, tmp_path):
    shop.fail("import", "purchases", _unicode_text(tmp_path), *MAP, "--delimiter", ",",
              contains="the file looks TAB-separated: try --delimiter tab")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_named_as_such_not_latin1(shop, tmp_path, codec):
    f = tmp_path / "p.csv"
    f.write_bytes("member,amount,date\nbøb,1.00,2026-01-02\n".encode(codec))
    before = shop.snapshot()
    r = shop.fail("import", "purchases", f, contains=f"try --encoding {codec}")
    assert "latin-1" not in r.stderr
    r = shop.fail("import", "purchases", f, "--encoding", "utf-8", contains=f"try --encoding {codec}")
    assert "latin-1" not in r.stderr
    assert shop.snapshot() == before
    shop.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-01")
    f.write_bytes("member,amount,date\nbob,1.00,2026-01-02\n".encode(codec))
    assert shop.json("import", "purchases", f, "--encoding", codec)["added"] == 1


@pytest.mark.parametrize("codec", ["unicode_escape", "raw_unicode_escape", "unicode-escape", "idna", "punycode"])
def test_codecs_that_interpret_the_bytes_are_refused(shop, tmp_path, codec):
    f = tmp_path / "p.csv"
    f.write_text("member,amount,date\nan\\x00na,1.00,2026-01-02\n")
    before = shop.snapshot()
    shop.fail("import", "purchases", f, "--encoding", codec, contains="is not a plain text encoding")
    shop.fail("import", "members", f, "--encoding", codec, contains="is not a plain text encoding")
    assert shop.snapshot() == before


def test_a_conflict_in_an_order_is_listed_once_and_a_repeated_amount_is_said(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = tmp_path / "o.csv"
    f.write_text("member,amount,date,order\n" + "".join(f"anna,{a},2026-01-02,A\n" for a in
                                                       ("10.00", "", "", "", "12.00", "12.00")))
    r = shop.invoke("import", "purchases", f)
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert sum("with other content" in line for line in lines) == 1, r.stderr  # line 6 only, not line 7 too
    assert "  line 6 (order): order A appears on line 2 with other content: total 10.00 there, 12.00 here" in lines
    assert "  line 7 (order): order A is refused: line 6 gives another total" in lines
    g = tmp_path / "same.csv"
    g.write_text("member,amount,date,order\nanna,10.00,2026-01-02,B\nanna,10.00,2026-01-02,B\n"
                 "anna,3.00,2026-01-03,C\nanna,,2026-01-03,C\n")
    r = shop.run("import", "purchases", g)
    assert "1 order had its amount on more than one row; the first was taken" in r.stderr
    assert shop.sql("SELECT order_id, amount FROM purchases ORDER BY order_id") == [("B", 1000), ("C", 300)]
    assert shop.json("import", "purchases", g)["amount_on_several_rows"] == 1
