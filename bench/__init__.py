"""Benchmarks; run them as scripts (`python -m bench.ledger_post --help`)."""
