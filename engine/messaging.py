"""Constants shared by the marketing-message path (executor context, email.send, sms.send).

``UNSUBSCRIBE_PLACEHOLDER`` is what ``{{ unsubscribe_url }}`` renders to in a step's config; the
email action replaces it with the recipient's own one-click unsubscribe link (each recipient
gets a different link, so it cannot be rendered before the action knows who it is sending to).
"""

from __future__ import annotations

UNSUBSCRIBE_PLACEHOLDER = "%%FLOWMATE_UNSUBSCRIBE_URL%%"
PURPOSES = ("transactional", "marketing")
