"""Backoffice: the software a broker's back office runs on."""

__version__ = "0.1.0"
