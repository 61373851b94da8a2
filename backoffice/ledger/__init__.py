"""Books and records: a double-entry ledger of cash and securities."""
