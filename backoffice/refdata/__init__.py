"""Reference data: assets, parties and ledger accounts."""
