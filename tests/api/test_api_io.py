"""The library's import and export, called directly: a path or a binary
stream in, the command's options as keywords, a typed summary out whose JSON
is the command's; refusals are the CLI's Error: line and write nothing; a
dry run writes nothing; export streams the CLI's very bytes to a text stream."""

import io
import os
from contextlib import redirect_stdout

import pytest

import loyalty_cli
from loyalty_cli.api.io import Export, Import, ImportProblem, ImportRefused, OptionConflict, RejectsNotWritten
from loyalty_cli.cli.render import emit_json
from tests.conftest import copy_shop, programme, shop_template

TOML = programme("""
    [earning]
    welcome_bonus = 5
""")

HISTORY = [
    ("enroll", "anna", "--name", "Anna Tamm", "--email", "anna@example.com", "--marketing", "--date", "2026-01-05"),
    ("enroll", "bob", "--name", "Bob", "--date", "2026-01-06"),
    ("purchase", "anna", "12.50", "--order", "A1", "--date", "2026-01-10"),
]

GOOD = "member,amount,date,order\nanna,10.00,2026-01-21,G1\nbob,5.50,2026-01-22,G2\n"
BAD = "member,amount,date,order\nanna,10.00,2026-01-21,I1\nzed,3.00,2026-01-22,I2\nanna,abc,2026-01-23,I3\n"
SHOPIFY = ("Email,Total,Name,Created at,Financial Status\n"
           "anna@example.com,12.50,#1,2026-01-21 10:00,paid\nanna@example.com,3.00,#2,2026-01-22 11:00,refunded\n")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = shop_template(tmp_path_factory.mktemp("io") / "shop", TOML, HISTORY).folder
    for name, text in (("good.csv", GOOD), ("bad.csv", BAD), ("shopify.csv", SHOPIFY),
                       ("members.csv", "member,name,email\nm1,Mia,mia@example.com\nm2,Max,\n")):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def shop(template, tmp_path):
    return copy_shop(template, tmp_path / "shop")


@pytest.fixture
def ledger(shop):
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield ledger


def as_printed(result) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        emit_json(result.to_json())
    return out.getvalue()


def test_an_import_from_a_path_is_a_typed_summary_with_the_commands_json(ledger, shop):
    before = shop.snapshot()
    dry = ledger.import_purchases(shop.folder / "good.csv", dry_run=True)
    assert isinstance(dry, Import) and (dry.read, dry.added, dry.skipped, dry.dry_run) == (2, 2, 0, True)
    assert shop.snapshot() == before and ledger.commits == 0
    cli = shop.run("import", "purchases", str(shop.folder / "good.csv"), "--dry-run", "--format", "json")
    assert as_printed(dry) == cli.stdout
    assert dry.to_json() == {"read": 2, "added": 2, "skipped": 0, "rejected": 0, "created_members": 0, "merged": 0,
                             "not_selected": 0, "amount_on_several_rows": 0, "dry_run": True}
    assert list(dry.to_json()) == ["read", "added", "skipped", "rejected", "created_members", "merged",
                                   "not_selected", "amount_on_several_rows", "dry_run"]
    done = ledger.import_purchases(str(shop.folder / "good.csv"))
    assert (done.added, done.dry_run, ledger.commits) == (2, False, 1)
    assert ledger.balance("bob").points == 5 + 5
    again = ledger.import_purchases(shop.folder / "good.csv")
    assert (again.added, again.skipped) == (0, 2) and ledger.commits == 1  # nothing new: no write counted


def test_an_import_reads_a_binary_stream_with_a_mapping_and_a_selection(ledger, shop):
    data = io.BytesIO(SHOPIFY.encode("utf-8"))
    r = ledger.import_purchases(data, mapping={"member": "Email", "amount": "Total", "order": "Name",
                                               "date": "Created at"}, where=["Financial Status=paid"])
    assert (r.read, r.added, r.not_selected) == (2, 1, 1)
    assert not data.closed  # the caller's stream stays the caller's
    assert [e.order for e in ledger.history("anna")][-1] == "#1"
    listed = ledger.import_purchases(shop.folder / "shopify.csv", mapping=["member=Email", "amount=Total",
                                                                          "order=Name", "date=Created at"],
                                     where={"Financial Status": "paid"})
    assert (listed.added, listed.skipped) == (0, 1)


def test_a_refused_file_lists_typed_problems_and_writes_nothing(ledger, shop):
    before = shop.snapshot()
    with pytest.raises(ImportRefused) as refused:
        ledger.import_purchases(shop.folder / "bad.csv")
    assert isinstance(refused.value, loyalty_cli.LoyaltyError)
    assert [(p.line, p.column) for p in refused.value.problems] == [(3, "member"), (4, "amount")]
    assert all(isinstance(p, ImportProblem) for p in refused.value.problems)
    assert shop.snapshot() == before
    cli = shop.invoke("import", "purchases", str(shop.folder / "bad.csv"))
    assert cli.exit_code == 1
    lines = cli.stderr.rstrip().splitlines()
    assert lines == [f"  {p}" for p in refused.value.problems] + [f"Error: {refused.value}"]


def test_skip_errors_writes_the_rejects_file(ledger, shop):
    rejects = shop.folder / "rejects.csv"
    r = ledger.import_purchases(shop.folder / "bad.csv", skip_errors=True, rejects=rejects)  # a Path, or a str
    assert (r.added, r.rejected) == (1, 2)
    assert [str(p) for p in r.rejected_rows][0].startswith("line 3 (member): unknown member 'zed'")
    text = rejects.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "member,amount,date,order,line,reason" and "zed" in text and "abc" in text


def test_option_refusals_are_the_clis_and_write_nothing(ledger, shop):
    before = shop.snapshot()
    good = str(shop.folder / "good.csv")
    with pytest.raises(OptionConflict) as conflict:
        ledger.import_purchases(good, rejects="r.csv")
    assert "Error: --rejects goes with --skip-errors" in shop.fail("import", "purchases", good, "--rejects", "r.csv",
                                                                   code=2).stderr
    assert str(conflict.value) == "--rejects goes with --skip-errors"
    cases = [
        (dict(mapping=[""]), ("--map", ""), "--map is empty: give a value, or leave --map out"),
        (dict(mapping={"colour": "x"}), ("--map", "colour=x"),
         "--map 'colour=x': unknown field 'colour' (fields: member, amount, date, order, code, name, store, till)"),
        (dict(encoding="nope"), ("--encoding", "nope"),
         "--encoding 'nope' is not an encoding Python can read text in (e.g. utf-8, latin-1, cp1252, utf-16)"),
        (dict(skip_errors=True, rejects="nodir/r.csv"), ("--skip-errors", "--rejects", "nodir/r.csv"),
         "--rejects nodir/r.csv: folder nodir does not exist"),
        (dict(skip_errors=True, rejects=str(shop.db)), ("--skip-errors", "--rejects", str(shop.db)),
         f"--rejects {shop.db} is the ledger; name another file for the rejected rows"),
        (dict(mapping=[""], rejects="r.csv"), ("--map", "", "--rejects", "r.csv"),  # an empty value comes first
         "--map is empty: give a value, or leave --map out"),
    ]
    for kwargs, args, message in cases:
        with pytest.raises(loyalty_cli.LoyaltyError) as refused:
            ledger.import_purchases(good, **kwargs)
        assert str(refused.value) == message
        assert shop.fail("import", "purchases", good, *args).stderr.strip() == f"Error: {message}"
    with pytest.raises(loyalty_cli.LoyaltyError, match="cannot read"):
        ledger.import_purchases(shop.folder / "missing.csv")
    assert shop.snapshot() == before and ledger.commits == 0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_rejects_file_that_cannot_be_written_says_the_import_was_recorded(ledger, shop):
    with pytest.raises(RejectsNotWritten) as failed:
        ledger.import_purchases(shop.folder / "bad.csv", skip_errors=True, rejects="/dev/full")
    assert "the import was recorded: 1 added" in str(failed.value)
    assert failed.value.result.added == 1 and len(failed.value.result.rejected_rows) == 2
    assert ledger.commits == 1


def test_import_members_and_its_progress(ledger, shop):
    seen = []
    r = ledger.import_members(shop.folder / "members.csv", progress=lambda done, total: seen.append((done, total)))
    assert (r.read, r.added, r.created_members) == (2, 2, 0)
    assert [m.member for m in ledger.balances()] == ["anna", "bob", "m1", "m2"]
    again = ledger.import_members(shop.folder / "members.csv", dry_run=True)
    cli = shop.run("import", "members", str(shop.folder / "members.csv"), "--dry-run", "--format", "json")
    assert as_printed(again) == cli.stdout and again.skipped == 2


@pytest.mark.parametrize("what", ["ledger", "members", "purchases"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_streams_the_clis_bytes(ledger, shop, what, fmt):
    out = io.StringIO()
    r = ledger.export(what, out, format=fmt)
    assert isinstance(r, Export) and r.what == what and r.format == fmt
    assert out.getvalue() == shop.run("export", what, "--format", fmt).stdout
    assert r.rows == {"ledger": 3, "members": 2, "purchases": 1}[what]
    assert r.columns[0] == {"ledger": "id", "members": "member", "purchases": "order"}[what]


def test_export_since_and_marketing_only(ledger, shop):
    out = io.StringIO()
    assert ledger.export("members", out, marketing_only=True).rows == 1
    assert out.getvalue().splitlines()[1].startswith("anna,")
    out = io.StringIO()
    assert ledger.export("ledger", out, since="2026-01-06").rows == 2
    assert out.getvalue() == shop.run("export", "ledger", "--since", "2026-01-06").stdout
    with pytest.raises(OptionConflict, match="--marketing-only goes with `export members`"):
        ledger.export("ledger", io.StringIO(), marketing_only=True)
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        ledger.export("members", io.StringIO(), since="soon")
    assert shop.fail("export", "members", "--since", "soon").stderr.strip() == f"Error: {refused.value}"
    with pytest.raises(loyalty_cli.LoyaltyError, match="choose ledger, members, purchases"):
        ledger.export("entries", io.StringIO())


def test_export_writes_as_it_reads(ledger, shop, monkeypatch):
    """Rows reach the stream one by one, while later rows are still unread."""
    from loyalty_cli.io import exporter

    monkeypatch.setattr(exporter, "YIELD", 1)
    lines = []

    class Out:
        def write(self, text):
            lines.append(text)

    r = ledger.export("ledger", Out(), format="json")
    assert r.rows == 3 and len(lines) >= 2 * r.rows
