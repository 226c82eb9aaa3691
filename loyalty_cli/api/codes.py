"""Codes: promo create/list/show/disable, referral — and their results."""

from __future__ import annotations

from loyalty_cli.api.core import LedgerCore


class CodesAPI(LedgerCore):
    pass
