"""Inbound e-mail: parsing, threading and the one ingest service (docs/email.md)."""
