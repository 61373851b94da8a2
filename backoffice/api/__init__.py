"""The REST API: FastAPI over the command layer (the same commands, permissions, approvals
and audit trail as the CLI)."""
