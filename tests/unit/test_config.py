"""The programme file: the sample documents every key, defaults are neutral,
and what `init` writes loads."""

import re
import tomllib
from decimal import Decimal
from pathlib import Path

from loyalty_cli.domain import config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_config.toml"


def test_sample_config_loads():
    prog = config.load(SAMPLE)
    assert prog.name and prog.levels and prog.rewards and prog.actions


def test_sample_config_documents_every_key_with_a_comment():
    lines = SAMPLE.read_text().splitlines()
    for section, keys in config.SCHEMA.items():
        for key in keys:
            assigned = [i for i, line in enumerate(lines)
                        if not line.lstrip().startswith("#") and re.search(rf"(^|[{{,\s]){re.escape(key)}\s*=", line)]
            assert assigned, f"[{section}] {key} is not in the sample"
            # explained: named in a comment, or its line follows a comment (or carries one)
            named = any(line.lstrip().startswith("#") and re.search(rf"\b{re.escape(key)}\b", line) for line in lines)
            commented = any("#" in lines[i] or (i and lines[i - 1].lstrip().startswith("#")) for i in assigned)
            assert named or commented, f"[{section}] {key} has no comment"


def test_only_program_is_required_and_defaults_are_neutral(tmp_path):
    f = tmp_path / "min.toml"
    f.write_text('[program]\nname = "Min"\n')
    p = config.load(f)
    assert (p.currency.code, p.currency.decimals, p.timezone, p.database) == ("EUR", 2, "UTC", "loyalty.db")
    assert (p.points_per_unit, p.rounding, p.min_purchase, p.welcome_bonus, p.birthday_bonus, p.pending_days) == (
        Decimal(1), "floor", 0, 0, 0, 0)
    assert (p.point_value, p.min_points, p.max_share, p.rewards, p.actions) == (Decimal("0.01"), 0, Decimal(1), (), {})
    assert (p.expiry_days, p.warn_days) == (0, 30)
    assert (p.tier_basis, p.tier_window, p.downgrade) == ("spend", "lifetime", True)
    assert [(lv.name, lv.min, lv.multiplier) for lv in p.levels] == [("Member", 0, Decimal(1))]
    assert (p.referrer_points, p.referee_points, p.referral_min_purchase) == (0, 0, 0)


def test_starter_config_is_valid_toml_that_loads(tmp_path):
    text = config.starter("Corner Coffee", "JPY", "Asia/Tokyo")
    f = tmp_path / "loyalty.toml"
    f.write_text(text)
    p = config.load(f)
    assert (p.name, p.currency.code, p.currency.decimals, p.timezone) == ("Corner Coffee", "JPY", 0, "Asia/Tokyo")
    assert tomllib.loads(text)["program"]["name"] == "Corner Coffee"


def test_database_path_is_relative_to_the_config_file(tmp_path, monkeypatch):
    f = tmp_path / "shop" / "loyalty.toml"
    f.parent.mkdir()
    f.write_text('[program]\nname = "X"\n[ledger]\ndatabase = "data/ledger.db"\n')
    p = config.load(f)
    assert p.database_url() == f"sqlite:///{tmp_path}/shop/data/ledger.db"
    monkeypatch.chdir(tmp_path)
    assert p.database_url("other.db") == f"sqlite:///{tmp_path}/other.db"  # a flag is relative to the cwd
    assert p.database_url("postgresql://u@h/db") == "postgresql://u@h/db"


import pytest  # noqa: E402

from loyalty_cli.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize("body, expected", [
    ("[expiry]\ndays = 3000000", "[expiry] days: must be at most 36500"),
    ("[earning]\npending_days = 40000", "[earning] pending_days: must be at most 36500"),
    ('[earning]\npoints_per_unit = "100000000000000000000"', "[earning] points_per_unit: must be at most"),
    ("[earning]\nwelcome_bonus = 9223372036854775807", "[earning] welcome_bonus: must be at most 1000000000"),
    ('[earning.actions."re\\nview"]\npoints = 5\nbogus = 1', "['earning.actions.re\\nview'] bogus: unknown key"),
])
def test_config_numbers_are_bounded_and_odd_keys_quoted(tmp_path, body, expected):
    f = tmp_path / "loyalty.toml"
    f.write_text('[program]\nname = "X"\n' + body + "\n")
    with pytest.raises(ConfigError) as e:
        config.load(f)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_a_bom_and_tiny_floats_are_read_exactly(tmp_path):
    f = tmp_path / "loyalty.toml"
    f.write_bytes(b"\xef\xbb\xbf" + b'[program]\nname = "X"\n[earning]\npoints_per_unit = 0.00001\n')
    assert config.load(f).points_per_unit == Decimal("0.00001")


def test_programme_dataclass_defaults_equal_the_schema_defaults(tmp_path):
    """Programme's field defaults (used when code builds one) and SCHEMA (used
    when a file leaves a key out) must never drift apart."""
    f = tmp_path / "min.toml"
    f.write_text('[program]\nname = "Min"\n')
    loaded = config.load(f)
    built = config.Programme(path=f, name="Min", currency=config.Currency("EUR", 2), timezone="UTC",
                             database="loyalty.db", levels=loaded.levels)
    assert built == loaded
