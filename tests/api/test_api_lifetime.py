"""A Ledger's lifetime: once closed (close(), or the end of its `with` block)
every method refuses with LedgerError; and a write started from inside
another write of the same thread (an import's progress callback writing,
through the same Ledger or another on the same ledger) is refused at once,
not after waiting 30 s on its own lock and blaming another process."""

import inspect
import io
import time

import pytest

import loyalty_cli
from loyalty_cli.api.ledger import Ledger, connect
from tests.api.test_api_arguments import REQUIRED

CLOSED = "the ledger is closed (close() was called, or its `with` block ended): open it again with " \
         "loyalty_cli.open_ledger()"


@pytest.fixture
def anna(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    return shop


def _public():
    return [name for name, _ in inspect.getmembers(Ledger, inspect.isfunction)
            if not name.startswith("_") and name != "close"]


def _call(ledger, name):
    sig = inspect.signature(getattr(Ledger, name))
    kwargs = {p.name: REQUIRED[p.name] for p in sig.parameters.values()
              if p.name != "self" and p.default is p.empty and p.kind is not p.VAR_POSITIONAL}
    return getattr(ledger, name)(**kwargs)


# -- closed ------------------------------------------------------------------------


def test_every_method_of_a_closed_ledger_refuses(anna):
    ledger = loyalty_cli.open_ledger(anna.config)
    ledger.close()
    before = anna.snapshot()
    for name in _public():
        with pytest.raises(loyalty_cli.LedgerError) as refused:
            _call(ledger, name)
        assert str(refused.value) == CLOSED, name
    with pytest.raises(loyalty_cli.LedgerError, match="closed"):
        ledger.purchase(None, None)  # closed comes first: whatever the arguments
    assert anna.snapshot() == before
    assert len(_public()) > 30


def test_after_its_with_block_a_ledger_is_closed(anna):
    with loyalty_cli.open_ledger(anna.config) as ledger:
        assert ledger.balance("anna").points == 0
    with pytest.raises(loyalty_cli.LedgerError, match="^the ledger is closed"):
        ledger.balance("anna")
    with pytest.raises(loyalty_cli.LedgerError, match="^the ledger is closed"):
        ledger.purchase("anna", "5", date="2026-01-06")
    with pytest.raises(loyalty_cli.LedgerError, match="^the ledger is closed"):
        with ledger:
            pass
    ledger.close()  # closing again is harmless
    assert repr(ledger).endswith("(closed)>")
    assert anna.sql("SELECT count(*) FROM purchases") == [(0,)]


def test_a_ledger_that_shares_its_engine_is_closed_and_the_engine_stays(anna):
    from loyalty_cli.domain.config import load

    prog = load(str(anna.config))
    url = prog.database_url(None)
    engine = connect(url)
    try:
        first = Ledger(prog, url, engine, owns_engine=False)
        first.close()
        with pytest.raises(loyalty_cli.LedgerError, match="closed"):
            first.balances()
        assert Ledger(prog, url, engine, owns_engine=False).balance("anna").member == "anna"
    finally:
        engine.dispose()


# -- a write inside a write ----------------------------------------------------------

CSV = b"member,amount,date\nanna,1.00,2026-01-07\nanna,2.00,2026-01-08\n"


def _nested(call) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(loyalty_cli.LedgerError) as refused:
        call()
    return str(refused.value), time.monotonic() - started


@pytest.mark.parametrize("through", ["same", "another"])
def test_a_write_from_an_imports_progress_callback_is_refused_at_once(anna, through):
    before = anna.snapshot()
    with loyalty_cli.open_ledger(anna.config) as a, loyalty_cli.open_ledger(anna.config) as b:
        writer = a if through == "same" else b

        def progress(done, total):
            writer.adjust("anna", 1, reason="from the callback", date="2026-01-08")

        said, took = _nested(lambda: a.import_purchases(io.BytesIO(CSV), progress=progress))
        where = anna.db if anna.db is not None else a.url.split("?")[0]  # a PostgreSQL database: its URL
        assert said.startswith(f"a write to the ledger {where}"), said
        assert "is already under way in this thread" in said, said
        assert "another loyalty process" not in said and took < 5
        assert anna.snapshot() == before  # the import was rolled back with it
        # and both work afterwards
        assert a.import_purchases(io.BytesIO(CSV)).added == 2
        assert b.adjust("anna", 1, reason="after", date="2026-01-08").points == a.balance("anna").points


def test_a_dry_run_or_init_inside_a_write_is_refused_too(anna):
    with loyalty_cli.open_ledger(anna.config) as a:
        for inner in (lambda: a.daily(as_of="2026-01-08", dry_run=True),
                      lambda: a.import_members(io.BytesIO(b"name\nBob\n"), dry_run=True),
                      lambda: loyalty_cli.init(anna.config, db=a.url, force=True)):  # the same ledger on either backend
            def progress(done, total, inner=inner):
                inner()

            said, took = _nested(lambda p=progress: a.import_purchases(io.BytesIO(CSV), progress=p))
            assert "already under way in this thread" in said and took < 5
    assert sorted(p.name for p in anna.folder.iterdir() if not p.name.startswith("loyalty.db")) == ["loyalty.toml"]


def test_reads_inside_a_write_and_writes_to_another_ledger_work(anna, make_shop):
    other = make_shop()
    other.run("enroll", "bob", "--name", "Bob", "--date", "2026-01-05")
    seen = []
    with loyalty_cli.open_ledger(anna.config) as a, loyalty_cli.open_ledger(other.config) as o:
        def progress(done, total):
            seen.append(a.balance("anna").points)
            o.adjust("bob", 1, reason="elsewhere", date="2026-01-08")

        assert a.import_purchases(io.BytesIO(CSV), progress=progress).added == 2
        assert seen and o.balance("bob").points == len(seen)


def test_a_write_from_an_exports_stream_is_a_write_after_a_read_and_works(anna):
    anna.run("adjust", "anna", "5", "--reason", "a start", "--date", "2026-01-06")
    with loyalty_cli.open_ledger(anna.config) as a, loyalty_cli.open_ledger(anna.config) as b:
        class Out:
            def write(self, text):
                b.adjust("anna", 1, reason="while exporting", date="2026-01-08")

        assert a.export("ledger", Out()).rows == 1
        assert a.balance("anna").points > 5
