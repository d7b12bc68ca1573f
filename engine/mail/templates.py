"""The words of each system mail, as plain text and HTML (Jinja2 with HTML autoescaping).

Every subject names the workspace when the mail is about one, so a person in several workspaces
can tell them apart in their inbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, StrictUndefined

_text_env = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)
_html_env = Environment(autoescape=True, undefined=StrictUndefined)

_HTML_FRAME = """<!doctype html>
<html><body style="margin:0;padding:24px;background:#f6f5fb;font-family:-apple-system,Segoe UI,Roboto,sans-serif;">
<table role="presentation" width="100%" style="max-width:520px;margin:0 auto;background:#ffffff;border-radius:10px;
padding:28px;color:#1c1b22;font-size:15px;line-height:1.5">
<tr><td>
<p style="font-weight:700;color:#6e56cf;font-size:17px;margin:0 0 16px">FlowMate</p>
{body}
<p style="color:#6f6e77;font-size:12px;margin-top:28px">{footer}</p>
</td></tr></table></body></html>"""

_BUTTON = ('<p style="margin:24px 0"><a href="{{ link }}" style="background:#6e56cf;color:#ffffff;'
           'text-decoration:none;padding:10px 18px;border-radius:6px;font-weight:600">{label}</a></p>'
           '<p style="font-size:13px;color:#6f6e77">Or paste this link into your browser:<br>'
           '<span style="word-break:break-all">{{ link }}</span></p>')


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _render(subject: str, text: str, html_body: str, footer: str, **values: object) -> Rendered:
    html = _HTML_FRAME.replace("{body}", html_body).replace("{footer}", footer)
    return Rendered(
        subject=_text_env.from_string(subject).render(**values).replace("\n", " ").strip(),
        text=_text_env.from_string(text).render(**values),
        html=_html_env.from_string(html).render(**values),
    )


def invitation(*, workspace: str, inviter: str, role: str, link: str, expires: str) -> Rendered:
    return _render(
        "{{ inviter }} invited you to {{ workspace }} on FlowMate",
        "Hello,\n\n{{ inviter }} invited you to join the workspace \"{{ workspace }}\" on FlowMate as "
        "{{ role }}.\n\nAccept the invitation:\n{{ link }}\n\nThe link works once and expires on "
        "{{ expires }}. If you did not expect this, ignore this mail.\n",
        "<p>Hello,</p><p><b>{{ inviter }}</b> invited you to join the workspace <b>{{ workspace }}</b> on "
        "FlowMate as <b>{{ role }}</b>.</p>" + _BUTTON.replace("{label}", "Accept invitation")
        + "<p>The link works once and expires on {{ expires }}.</p>",
        "If you did not expect this invitation, ignore this mail.",
        workspace=workspace, inviter=inviter, role=role, link=link, expires=expires,
    )


def password_reset(*, link: str, minutes: int) -> Rendered:
    return _render(
        "Reset your FlowMate password",
        "Hello,\n\nSomeone (hopefully you) asked to reset the password of your FlowMate account.\n\n"
        "Choose a new password:\n{{ link }}\n\nThe link works once, for {{ minutes }} minutes. Setting a new "
        "password signs you out everywhere else. If you did not ask for this, ignore this mail: your "
        "password stays as it is.\n",
        "<p>Hello,</p><p>Someone (hopefully you) asked to reset the password of your FlowMate account.</p>"
        + _BUTTON.replace("{label}", "Choose a new password")
        + "<p>The link works once, for {{ minutes }} minutes. Setting a new password signs you out "
        "everywhere else.</p>",
        "If you did not ask for this, ignore this mail: your password stays as it is.",
        link=link, minutes=minutes,
    )


def verification(*, link: str, workspace: str | None) -> Rendered:
    return _render(
        "Confirm your email for FlowMate{% if workspace %} ({{ workspace }}){% endif %}",
        "Hello,\n\nPlease confirm that this is your email address:\n{{ link }}\n\nUntil you do, you can use "
        "FlowMate but cannot accept invitations to other workspaces.\n",
        "<p>Hello,</p><p>Please confirm that this is your email address.</p>"
        + _BUTTON.replace("{label}", "Confirm my email")
        + "<p>Until you do, you can use FlowMate but cannot accept invitations to other workspaces.</p>",
        "You get this mail because this address was used to sign up for FlowMate.",
        link=link, workspace=workspace or "",
    )


def reconnect_needed(*, workspace: str, connection: str, provider: str, reason: str, link: str) -> Rendered:
    """To the workspace owners when an OAuth connection's refresh is refused for good."""
    return _render(
        "Reconnect “{{ connection }}” ({{ provider }}) in {{ workspace }}",
        "Hello,\n\n{{ provider }} no longer accepts the connection “{{ connection }}” in {{ workspace }} "
        "({{ reason }}). Workflow steps that use it fail until someone reconnects it:\n{{ link }}\n\n"
        "Open Connections, find “{{ connection }}” and click Reconnect.\n",
        "<p>Hello,</p><p>{{ provider }} no longer accepts the connection <b>{{ connection }}</b> in "
        "{{ workspace }} ({{ reason }}). Workflow steps that use it fail until someone reconnects it.</p>"
        + _BUTTON.replace("{label}", "Open Connections"),
        "You get this mail because you own this FlowMate workspace. We send it once per failure, not per run.",
        workspace=workspace, connection=connection, provider=provider, reason=reason, link=link,
    )


def account_deletion(*, link: str, minutes: int) -> Rendered:
    """For an account without a password (single sign-on only): the link is its re-authentication."""
    return _render(
        "Confirm deleting your FlowMate account",
        "Hello,\n\nSomeone signed in to your FlowMate account asked to delete it.\n\n"
        "To confirm, open this link:\n{{ link }}\n\nThe link works once, for {{ minutes }} minutes, and the page "
        "asks once more before anything is deleted. If you did not ask for this, ignore this mail and sign out "
        "your other sessions from the Account page.\n",
        "<p>Hello,</p><p>Someone signed in to your FlowMate account asked to delete it.</p>"
        + _BUTTON.replace("{label}", "Confirm account deletion")
        + "<p>The link works once, for {{ minutes }} minutes, and the page asks once more before anything is "
        "deleted.</p>",
        "If you did not ask for this, ignore this mail and sign out your other sessions from the Account page.",
        link=link, minutes=minutes,
    )
