"""The one write path: every create/update/delete goes through these functions."""
