"""The notification bell in the top bar: failed runs and approvals new since the member looked."""
