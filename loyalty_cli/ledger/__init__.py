"""The ledger's operations: members and their identity, promo and referral
codes, every write (enrol, purchase, refund, redeem, adjust, award, expiry)
and the time-driven rules, each in one transaction of the store."""
