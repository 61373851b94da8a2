"""Trade capture, enrichment, allocation, confirmation and booking."""
