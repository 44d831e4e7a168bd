"""Dramatiq actors and the outbox relay (the background-work issue fills this package)."""
