"""The library API: `open_ledger(config, db=None)` gives a `Ledger` (see api/ledger.py);
`init(config, ...)` writes a programme file and creates its ledger, `upgrade(config, ...)` brings an
older ledger to this loyalty's schema (api/admin.py).

Every result class and row type the methods return, the errors they raise and
the types their signatures use are importable from here, e.g.
`from loyalty_cli.api import Purchase, Balance, ImportRefused` (each is
defined in the module of its group: api/points.py, api/reports.py, ...)."""

from loyalty_cli.api.admin import (
    ActionRule,
    Backup,
    Check,
    Copied,
    CopiedTable,
    EarningRules,
    ExpiryRules,
    Problem,
    Program,
    ProgramInfo,
    RedemptionRules,
    ReferralRules,
    RewardRule,
    Setup,
    TierRule,
    TierRules,
    Upgraded,
    UpgradeStep,
    init,
    upgrade,
)
from loyalty_cli.api.codes import (
    NewCode,
    PromoCode,
    PromoCodes,
    PromoCreated,
    PromoDetail,
    PromoDisabled,
    PromoUse,
    Referee,
    Referral,
)
from loyalty_cli.api.core import Amount, Moment, Points
from loyalty_cli.api.daily import (
    BirthdayBonus,
    Birthdays,
    DailyBirthdays,
    DailyExpiry,
    DailyRun,
    ExpiredPoints,
    Expiry,
    TierChange,
)
from loyalty_cli.api.io import (
    Export,
    Import,
    ImportProblem,
    ImportRefused,
    OptionConflict,
    Pairs,
    Progress,
    RejectsNotWritten,
    Source,
    TextOut,
)
from loyalty_cli.api.ledger import Ledger, open_ledger
from loyalty_cli.api.members import (
    Edit,
    Enrolment,
    ExpiringPoints,
    Forgotten,
    Member,
    Members,
    MemberView,
    RecentEntry,
)
from loyalty_cli.api.points import Adjustment, Award, Purchase, Redemption, ReferralPaid, Refund
from loyalty_cli.api.reports import (
    Balance,
    Balances,
    Expiring,
    ExpiringMember,
    ExpiryDay,
    History,
    HistoryEntry,
    Lapsed,
    LapsedMember,
    Month,
    Report,
    StoreFigures,
    StoreReport,
    StoresReport,
    TierCount,
    TierGap,
    TierLevel,
    Tiers,
)
from loyalty_cli.api.results import Result, Rows, as_json
from loyalty_cli.errors import ConfigError, LedgerError, LoyaltyError

__all__ = [
    # opening a ledger
    "Ledger", "init", "upgrade", "open_ledger",
    # errors
    "LoyaltyError", "ConfigError", "LedgerError", "ImportRefused", "RejectsNotWritten", "OptionConflict",
    # the types signatures use
    "Amount", "Moment", "Points", "Pairs", "Progress", "Source", "TextOut",
    # results: the bases, and every result class and row type by group
    "Result", "Rows", "as_json",
    "Enrolment", "Edit", "Forgotten", "Member", "Members", "ExpiringPoints", "RecentEntry", "MemberView",
    "ReferralPaid", "Purchase", "Refund", "Redemption", "Adjustment", "Award",
    "NewCode", "PromoCreated", "PromoCode", "PromoCodes", "PromoUse", "PromoDetail", "PromoDisabled", "Referee",
    "Referral",
    "Balance", "Balances", "HistoryEntry", "History", "TierLevel", "TierGap", "Tiers", "TierCount", "Month",
    "Report", "StoreFigures", "StoresReport", "StoreReport", "ExpiryDay", "ExpiringMember", "Expiring",
    "LapsedMember", "Lapsed",
    "ImportProblem", "Import", "Export",
    "ExpiredPoints", "BirthdayBonus", "TierChange", "Expiry", "Birthdays", "DailyBirthdays", "DailyExpiry", "DailyRun",
    "Setup", "Backup", "Copied", "CopiedTable", "Problem", "Check", "ProgramInfo", "EarningRules", "ActionRule",
    "RedemptionRules", "RewardRule", "ExpiryRules", "TierRule", "TierRules", "ReferralRules", "Program", "Upgraded",
    "UpgradeStep",
]
