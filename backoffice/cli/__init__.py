"""The command line: parses, calls one service function, prints. No business rules here."""
