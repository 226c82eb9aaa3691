"""The one tier review's pure part (ledger/tiers.py `time_changes`): the tier
changes time alone causes, each at its own moment. Expected values by hand."""

from __future__ import annotations

from datetime import datetime

import pytest

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import load
from loyalty_cli.ledger.tiers import time_changes
from tests.conftest import programme_file


def _programme(tmp_path, window: str):
    path = tmp_path / "p.toml"
    path.write_text('[program]\nname = "T"\ncurrency = "EUR"\n\n' + programme_file("gold_at_100", window=window),
                    encoding="utf-8")
    return load(path)


@pytest.fixture
def rolling(tmp_path):
    prog = _programme(tmp_path, "rolling-365")
    # 150.00 spent on 10 March 2024 (Gold from 100): the window lets go of it
    # at midnight 365 days after its day, 10 March 2025
    return rules.TierTracker(prog, [(datetime(2024, 3, 10, 12), 150)])


def test_a_rolling_window_letting_go_drops_the_tier_at_that_midnight(rolling):
    assert time_changes(rolling, datetime(2024, 3, 10, 12), datetime(2025, 6, 1), "Gold") == [
        (datetime(2025, 3, 10), "Gold", "Bronze")]


def test_nothing_before_the_window_lets_go(rolling):
    assert time_changes(rolling, datetime(2024, 3, 10, 12), datetime(2025, 3, 9, 23, 59), "Gold") == []


def test_nothing_when_the_log_already_says_so(rolling):
    assert time_changes(rolling, datetime(2024, 3, 10, 12), datetime(2025, 6, 1), "Bronze") == []


def test_nothing_at_or_before_since(rolling):
    # the review looks at (since, until]: a moment at `since` was looked at already
    assert time_changes(rolling, datetime(2025, 3, 10), datetime(2025, 6, 1), "Gold") == []


def test_a_calendar_year_changes_once_however_many_years_pass(tmp_path):
    prog = _programme(tmp_path, "calendar-year")
    tracker = rules.TierTracker(prog, [(datetime(2024, 5, 1, 9), 150)])
    # 1 January 2025 lets go of 2024; on 1 January 2026 the tier is still Bronze: no second change
    assert time_changes(tracker, datetime(2024, 5, 1, 9), datetime(2026, 2, 1), "Gold") == [
        (datetime(2025, 1, 1), "Gold", "Bronze")]


def test_a_lifetime_window_never_changes_by_time(tmp_path):
    prog = _programme(tmp_path, "lifetime")
    tracker = rules.TierTracker(prog, [(datetime(2024, 5, 1, 9), 150)])
    assert time_changes(tracker, None, datetime(2030, 1, 1), "Gold") == []
