"""Build one RFC 5322 message with a plain-text and an HTML alternative."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr


def build_message(*, sender: str, to: str, subject: str, text: str, html: str, mail_id: str) -> EmailMessage:
    """``multipart/alternative`` (text first, HTML preferred by clients that can show it)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "flowmate"
    # Stable per mail: a retried delivery carries the same Message-ID, so clients de-duplicate.
    msg["Message-ID"] = make_msgid(idstring=mail_id, domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg
