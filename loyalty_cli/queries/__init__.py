"""The read side: balances, history, tiers, the programme report and the
member lists, computed from the store; nothing here writes."""
