"""Members: enroll, edit, forget, members, show — and their results."""

from __future__ import annotations

from loyalty_cli.api.core import LedgerCore


class MembersAPI(LedgerCore):
    pass
