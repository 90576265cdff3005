"""Papo: messaging automation and CRM for small businesses."""

__version__ = "0.1.0"
