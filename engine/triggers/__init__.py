"""Trigger types: manual, webhook, cron."""
