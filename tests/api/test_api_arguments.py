"""Arguments of the wrong type are refused before anything runs: a one-line
LoyaltyError naming the argument and what it must be, nothing written. One
mechanism does it (api/arguments.py: every public Ledger method and function
is checked against its annotations), so these tests sweep every method and
every parameter rather than pick a few."""

import inspect
import io
from datetime import date
from decimal import Decimal

import pytest

import loyalty_cli
from loyalty_cli.api import admin
from loyalty_cli.api.io import import_options
from tests.conftest import BASE_TOML, Shop

HISTORY = [("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05"),
           ("purchase", "anna", "12.50", "--order", "A1", "--date", "2026-01-06")]


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """One shop for the refusals: each asserts it wrote nothing, so they can share it."""
    folder = tmp_path_factory.mktemp("arguments")
    shop = Shop(folder, BASE_TOML)
    for args in HISTORY:
        shop.run(*args)
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield shop, ledger


@pytest.fixture
def shop(kept):
    return kept[0]


@pytest.fixture
def ledger(kept):
    return kept[1]


@pytest.fixture
def fresh(make_shop):
    """A shop of its own, for a test that writes."""
    shop = make_shop()
    for args in HISTORY:
        shop.run(*args)
    with loyalty_cli.open_ledger(shop.config) as ledger:
        yield ledger


# a value of the right type for each required parameter, by name (the call never gets that far)
REQUIRED = {"member": "anna", "amount": "1", "order": "A1", "points": 1, "reason": "why", "action": "review",
            "code": "TEN", "what": "ledger", "out": io.StringIO(), "file": io.BytesIO(b""), "path": "copy.db",
            "kind": "member", "name": "Name", "to": "moved.db", "store": "Kesklinn"}


def _methods():
    for name, fn in inspect.getmembers(loyalty_cli.Ledger, inspect.isfunction):
        if not name.startswith("_"):
            params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
            yield from ((name, p) for p in params)


def _call(ledger, method: str, wrong: str, value):
    """`ledger.method` with `value` for parameter `wrong` and a right one for every other required one."""
    sig = inspect.signature(getattr(loyalty_cli.Ledger, method))
    args, kwargs = [], {}
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.VAR_POSITIONAL:
            args += [value] if p.name == wrong else []
        elif p.name == wrong:
            kwargs[p.name] = value
        elif p.default is p.empty:
            kwargs[p.name] = REQUIRED[p.name]
    return getattr(ledger, method)(*args, **kwargs)


class Odd:
    """Of no type any method takes."""


@pytest.mark.parametrize(("method", "param"), [(m, p) for m, p in _methods()],
                         ids=[f"{m}-{p.name}" for m, p in _methods()])
def test_every_parameter_of_every_method_refuses_a_value_of_the_wrong_type(ledger, shop, method, param):
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        _call(ledger, method, param.name, Odd())
    said = str(refused.value)
    label = f"{param.name}[0]" if param.kind is param.VAR_POSITIONAL else param.name
    assert said.startswith(f"{label} must be ") and said.endswith(", not Odd"), said
    assert "\n" not in said and type(refused.value) is loyalty_cli.LoyaltyError
    assert shop.snapshot() == before


def test_the_sweep_covers_the_ledger():
    swept = {m for m, _ in _methods()}
    assert {"purchase", "enroll", "edit", "import_purchases", "export", "balances", "complete", "backup",
            "copy"} <= swept


# -- what the refusals say ---------------------------------------------------------


@pytest.mark.parametrize(("call", "says"), [
    (lambda L: L.purchase(None, "1"), "member must be a str, not None"),
    (lambda L: L.purchase(123, "1"), "member must be a str, not int 123"),
    (lambda L: L.purchase("anna", "1", order=5), "order must be a str or None, not int 5"),
    (lambda L: L.purchase("anna", "1", code=5), "code must be a str or None, not int 5"),
    (lambda L: L.purchase("anna", None), "amount must be a str, Decimal or int (never a float: it is not exact), "
                                         "not None"),
    (lambda L: L.purchase("anna", 12.5), "amount must be a str, Decimal or int (never a float: it is not exact), "
                                         "not float 12.5"),
    (lambda L: L.purchase("anna", "1", redeem=1.0), "redeem must be a whole number (an int or a string of digits), "
                                                    "or None, not float 1.0"),
    (lambda L: L.adjust("anna", None, reason="x"), "points must be a whole number (an int or a string of digits), "
                                                   "not None"),
    (lambda L: L.adjust("anna", 5, reason=5), "reason must be a str, not int 5"),
    (lambda L: L.enroll("x", name=None), "name must be a str, not None"),
    (lambda L: L.enroll("x", name="X", email=5), "email must be a str or None, not int 5"),
    (lambda L: L.enroll("x", name="X", phone=5551234), "phone must be a str or None, not int 5551234"),
    (lambda L: L.enroll("x", name="X", birthday=19900101),
     "birthday must be a date or an ISO date string (YYYY-MM-DD), or None, not int 19900101"),
    (lambda L: L.members(search=5), "search must be a str or None, not int 5"),
    (lambda L: L.check(head=5), "head must be a str or None, not int 5"),
    (lambda L: L.show("anna", as_of=5), "as_of must be a date, a datetime or an ISO string, or None, not int 5"),
    (lambda L: L.history("anna", since=0), "since must be a date, a datetime or an ISO string, or None, not int 0"),
    (lambda L: L.balances(["anna"]), "members[0] must be a str, not list ['anna']"),
    (lambda L: L.balances("anna", None), "members[1] must be a str, not None"),
    (lambda L: L.backup(None), "path must be a path (a str or os.PathLike), not None"),
    (lambda L: L.export("ledger", None),
     "out must be a text stream (anything with write(str), not a binary file), not None"),
    (lambda L: L.export("ledger", io.BytesIO()),
     "out must be a text stream (anything with write(str), not a binary file), not BytesIO"),
    (lambda L: L.import_purchases(io.StringIO("member,amount,date\nanna,1,2026-01-07\n")),
     "file must be a path or a binary stream (a file opened with 'rb'), not StringIO"),
    (lambda L: L.import_purchases(None), "file must be a path or a binary stream (a file opened with 'rb'), not None"),
    (lambda L: L.import_purchases(io.BytesIO(b""), mapping="member=Email"),
     "mapping must be a mapping or a list of NAME=VALUE strings, not str 'member=Email'"),
    (lambda L: L.import_purchases(io.BytesIO(b""), mapping={"member": 5}),
     "mapping must be a mapping or a list of NAME=VALUE strings, not dict {'member': 5}"),
    (lambda L: L.import_purchases(io.BytesIO(b""), where=["a=b", 5]),
     "where must be a mapping or a list of NAME=VALUE strings, not list ['a=b', 5]"),
    (lambda L: L.import_purchases(io.BytesIO(b""), progress=5), "progress must be a function or None, not int 5"),
    (lambda L: L.report(lapsed_days="30"), "lapsed_days must be an int, not str '30'"),
    (lambda L: L.complete("nope"), "kind must be one of 'member', 'promo', 'order', not str 'nope'"),
    (lambda L: L.complete("member", None), "prefix must be a str, not None"),
    (lambda L: L.promo_create("P", percent=Decimal("10"), starts=date(2026, 1, 1), max_uses=1.0),
     "max_uses must be a whole number (an int or a string of digits), or None, not float 1.0"),
])
def test_a_refusal_names_the_argument_and_what_it_must_be(ledger, shop, call, says):
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError) as refused:
        call(ledger)
    assert str(refused.value) == says
    assert shop.snapshot() == before


# -- yes/no options ------------------------------------------------------------------


@pytest.mark.parametrize(("call", "name"), [
    (lambda L: L.enroll("x9", name="X", marketing="no"), "marketing"),
    (lambda L: L.edit("anna", marketing="no"), "marketing"),
    (lambda L: L.edit("anna", marketing=0), "marketing"),
    (lambda L: L.promo_create("P16", percent="10", first_purchase="no"), "first_purchase"),
    (lambda L: L.promo_list(active="no"), "active"),
    (lambda L: L.daily(dry_run="no"), "dry_run"),
    (lambda L: L.expire(dry_run=1), "dry_run"),
    (lambda L: L.birthdays(dry_run=None), "dry_run"),
    (lambda L: L.expiring(marketing_only="no"), "marketing_only"),
    (lambda L: L.check(print_head="no"), "print_head"),
    (lambda L: L.export("members", io.StringIO(), marketing_only="no"), "marketing_only"),
    (lambda L: L.import_purchases(io.BytesIO(b"member,amount,date\n"), skip_errors="no"), "skip_errors"),
    (lambda L: L.import_purchases(io.BytesIO(b"member,amount,date\n"), create_members="no"), "create_members"),
    (lambda L: L.import_members(io.BytesIO(b"name\n"), dry_run="yes"), "dry_run"),
    (lambda L: L.import_members(io.BytesIO(b"name\n"), decimal_comma=1), "decimal_comma"),
])
def test_a_yes_no_option_takes_a_bool_only(ledger, shop, call, name):
    before = shop.snapshot()
    with pytest.raises(loyalty_cli.LoyaltyError, match=rf"^{name} must be True or False(, or None)?, not "):
        call(ledger)
    assert shop.snapshot() == before
    assert ledger.show("anna").marketing is False


def test_the_right_types_still_work(fresh, tmp_path):
    """What the checks let through: str subclasses, Decimal, int amounts, paths, binary files."""
    class Id(str):
        pass

    ledger = fresh
    assert ledger.purchase(Id("anna"), 5, order="I1", date="2026-01-07").amount == Decimal("5.00")
    assert ledger.edit("anna", marketing=True, date="2026-01-07").changed == ("marketing",)
    csv = tmp_path / "p.csv"
    csv.write_bytes(b"member,amount,date\nanna,1.00,2026-01-08\n")
    assert ledger.import_purchases(csv, dry_run=True).added == 1
    assert ledger.import_purchases(str(csv), mapping={"member": "member"}, dry_run=True).added == 1
    with open(csv, "rb") as f:
        assert ledger.import_purchases(f, where=(), progress=lambda done, total: None).added == 1
    with open(tmp_path / "out.csv", "w", encoding="utf-8") as out:
        assert ledger.export("ledger", out).rows >= 3
    assert ledger.complete("order", "A") == ["A1"] and ledger.balances("anna", as_of=date(2026, 2, 1))


def test_a_text_file_is_not_an_import_and_a_binary_file_is_not_an_export(ledger, tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_bytes(b"member,amount,date\nanna,1.00,2026-01-08\n")
    with open(csv, encoding="utf-8") as text, pytest.raises(loyalty_cli.LoyaltyError, match="^file must be a path"):
        ledger.import_purchases(text)
    with open(tmp_path / "out", "wb") as binary, pytest.raises(loyalty_cli.LoyaltyError, match="^out must be a text"):
        ledger.export("ledger", binary)


# -- the module's functions ----------------------------------------------------------


def test_open_ledger_and_init_check_their_arguments_too(shop, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    for call, says in [
        (lambda: loyalty_cli.open_ledger(None), "config must be a path (a str or os.PathLike), not None"),
        (lambda: loyalty_cli.open_ledger(shop.config, db=5),
         "db must be a path (a str or os.PathLike), or None, not int 5"),
        (lambda: loyalty_cli.init(None), "config must be a path (a str or os.PathLike), not None"),
        (lambda: loyalty_cli.init("x.toml", currency=5), "currency must be a str or None, not int 5"),
        (lambda: loyalty_cli.init("x.toml", force="no"), "force must be True or False, not str 'no'"),
        (lambda: admin.check_head(5), "text must be a str, not int 5"),
        (lambda: import_options("purchases", skip_errors="yes"), "skip_errors must be True or False, not str 'yes'"),
    ]:
        with pytest.raises(loyalty_cli.LoyaltyError) as refused:
            call()
        assert str(refused.value) == says
    assert list(empty.iterdir()) == []  # init wrote nothing


def test_help_still_shows_each_methods_own_signature():
    sig = inspect.signature(loyalty_cli.Ledger.purchase)
    assert list(sig.parameters)[:3] == ["self", "member", "amount"]
    assert loyalty_cli.Ledger.purchase.__doc__.startswith("Record a sale")
    assert str(inspect.signature(loyalty_cli.open_ledger)).startswith("(config: 'str | os.PathLike[str]'")
