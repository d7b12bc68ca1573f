"""Shared UI pieces used by every feature page."""
