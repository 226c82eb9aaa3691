"""The time-driven rules: expire, birthdays, daily — and their results."""

from __future__ import annotations

from loyalty_cli.api.core import LedgerCore


class DailyAPI(LedgerCore):
    pass
