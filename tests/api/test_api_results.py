"""The result classes as a caller meets them: every row type has to_json()
as every result does, every class has a docstring and a name of its own
across api/, all of them are importable from loyalty_cli.api, and the errors
a caller may catch (and init) from loyalty_cli itself."""

import importlib
import inspect
import json
from datetime import date

import pytest

import loyalty_cli
import loyalty_cli.api
from loyalty_cli.api.results import Result, as_json
from tests.conftest import programme_file

GROUPS = ("members", "points", "codes", "reports", "io", "daily", "admin")


def _classes():
    """(module, class) of every result class and row type the api/ modules define."""
    for group in GROUPS:
        mod = importlib.import_module(f"loyalty_cli.api.{group}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and obj.__module__ == mod.__name__ and not obj.__name__.startswith("_") \
                    and (issubclass(obj, Result) or (issubclass(obj, tuple) and hasattr(obj, "_fields"))):
                yield group, obj


def _rows():
    return [cls for _, cls in _classes() if issubclass(cls, tuple)]


def test_there_are_row_types_and_results_to_check():
    assert len(_rows()) >= 15 and len(list(_classes())) >= 60


@pytest.mark.parametrize("cls", _rows(), ids=lambda c: c.__name__)
def test_every_row_type_has_to_json(cls):
    values = [{"date": date(2026, 1, 5)}.get(f, 1) for f in cls._fields]
    row = cls(*values)
    assert callable(row.to_json) and row.to_json() == as_json(row)
    assert list(row.to_json()) == [{"from_": "from"}.get(f, f) for f in cls._fields]
    json.dumps(row.to_json())


def test_a_rows_json_is_its_commands(shop):
    shop.run("enroll", "anna", "--name", "Anna Tamm", "--date", "2026-01-05")
    shop.run("purchase", "anna", "12.50", "--order", "A1", "--date", "2026-01-06")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        assert ledger.balance("anna").to_json() == shop.json("balance", "anna")[0]
        assert ledger.history("anna")[-1].to_json() == shop.json("history", "anna")[-1]
        assert ledger.members()[0].to_json() == shop.json("members")[0]


@pytest.mark.parametrize(("group", "cls"), list(_classes()), ids=lambda x: getattr(x, "__name__", x))
def test_every_result_class_and_row_type_has_a_docstring_of_its_own(group, cls):
    doc = inspect.getdoc(cls) or ""
    assert doc and not doc.startswith(f"{cls.__name__}("), f"{group}.{cls.__name__} has no docstring"
    assert f"#### `{cls.__name__}`" + (" (rows of" if "rows of" in _heading(cls) else "") in _api_md()
    assert doc.splitlines()[0] in _api_md()  # the generator shows it


def _heading(cls) -> str:
    text = _api_md()
    start = text.index(f"#### `{cls.__name__}`")
    return text[start:text.index("\n", start)]


def _api_md() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")


def test_every_result_class_name_is_unique_across_the_api():
    seen: dict[str, str] = {}
    for group, cls in _classes():
        assert cls.__name__ not in seen, f"{cls.__name__} is in api/{seen.get(cls.__name__)}.py and api/{group}.py"
        seen[cls.__name__] = group


def test_the_renamed_classes_keep_their_json(make_shop):
    from loyalty_cli.api import ExpiringPoints, TierLevel, TierRule

    shop = make_shop(programme_file("birthday_and_expiry"))
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-05")
    shop.run("purchase", "anna", "40.00", "--date", "2026-01-06")
    with loyalty_cli.open_ledger(shop.config) as ledger:
        view = ledger.show("anna", as_of="2026-01-07")
        assert view.expiring and all(isinstance(e, ExpiringPoints) for e in view.expiring)
        assert json.loads(json.dumps(view.to_json())) == shop.json("show", "anna", "--as-of", "2026-01-07")
        rules = ledger.program()
        assert rules.tiers.levels and all(isinstance(t, TierRule) for t in rules.tiers.levels)
        assert json.loads(json.dumps(rules.to_json())) == shop.json("program")
        assert ledger.tiers().tiers and all(isinstance(t, TierLevel) for t in ledger.tiers().tiers)


# -- where to import them from --------------------------------------------------------


def test_every_result_class_row_type_and_error_is_importable_from_loyalty_cli_api():
    from loyalty_cli.api import io

    exported = set(loyalty_cli.api.__all__)
    missing = sorted(cls.__name__ for _, cls in _classes() if cls.__name__ not in exported)
    assert missing == []
    for group, cls in _classes():
        assert getattr(loyalty_cli.api, cls.__name__) is cls, (group, cls)
    errors = {io.ImportRefused, io.RejectsNotWritten, io.OptionConflict, loyalty_cli.LoyaltyError,
              loyalty_cli.ConfigError, loyalty_cli.LedgerError}
    assert {e.__name__ for e in errors} <= exported
    assert all(hasattr(loyalty_cli.api, name) for name in loyalty_cli.api.__all__)
    assert len(loyalty_cli.api.__all__) == len(exported)  # listed once each


def test_loyalty_cli_exports_init_and_every_error_a_caller_may_catch():
    from loyalty_cli.api import io

    for name in ("init", "open_ledger", "Ledger", "LoyaltyError", "ConfigError", "LedgerError", "ImportRefused",
                 "RejectsNotWritten", "OptionConflict"):
        assert name in loyalty_cli.__all__ and name in dir(loyalty_cli), name
        assert getattr(loyalty_cli, name) is getattr(loyalty_cli.api, name)
    assert loyalty_cli.ImportRefused is io.ImportRefused
    assert issubclass(loyalty_cli.OptionConflict, loyalty_cli.LoyaltyError)
    assert "TYPE_CHECKING" not in dir(loyalty_cli)
    assert set(loyalty_cli.__all__) <= set(dir(loyalty_cli))
    with pytest.raises(AttributeError):
        loyalty_cli.Purchase  # results are in loyalty_cli.api


def test_the_docs_say_where_results_are_imported_from_and_document_the_ledgers_attributes():
    text = _api_md()
    assert "`from loyalty_cli.api import Purchase, Balance`" in text
    for attribute in ("`commits`", "`on_write`", "`on_commit`"):
        assert attribute in text
    assert "points are `int` or a string of digits" in text
    for error in ("ImportRefused", "RejectsNotWritten", "OptionConflict"):
        assert f"### `loyalty_cli.{error}`" in text
