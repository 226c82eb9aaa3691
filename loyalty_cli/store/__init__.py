"""The store: the tables, the engine and its dialect, transactions, schema
versions, the hash chain. The only layer that knows which database it is."""
