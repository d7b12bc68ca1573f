"""Every audit action FlowMate records, with what it means: the audit trail's vocabulary.

Names are ``<area>.<verb>``; the area (before the dot) groups them on the Audit page. A service
that records an action not listed here fails ``tests/engine/test_audit_coverage.py``, so the
list stays the one place an auditor reads to learn what can appear in the trail.
"""

from __future__ import annotations

EVENTS: dict[str, str] = {
    # people and sign-in
    "user.create": "a FlowMate account was created",
    "auth.login": "someone signed in",
    "auth.login_failed": "a sign-in failed (wrong password or unknown email)",
    "auth.locked": "an account was locked after repeated failed sign-ins",
    "auth.logout": "someone signed out",
    "workspace.switch": "a signed-in user switched to this workspace",
    "user.email_verified": "someone confirmed their email address (how: the link, a password reset, or SSO)",
    "user.verification_sent": "a confirmation link was mailed (earlier unused links stopped working)",
    "user.password_reset_requested": "a password-reset link was mailed",
    "user.password_reset": "a password was reset through its link (the person's other sessions ended)",
    "user.created_with_sso": "an account was created by a first single sign-on (provider named)",
    "user.identity_linked": "a single sign-on identity was linked to an existing account",
    "session.revoke": "someone signed one of their own browsers out (device and IP named)",
    "session.revoke_others": "someone signed out all their other browsers (how many ended)",
    "auth.mfa_failed": "a wrong or reused second-factor code was entered at sign-in (counts toward the lockout)",
    "mfa.setup_started": "someone began setting up two-factor authentication (a new, unconfirmed key)",
    "mfa.setup_cancelled": "an unfinished two-factor set-up was abandoned",
    "mfa.enable": "two-factor authentication was turned on (confirmed with a code; recovery codes issued)",
    "mfa.disable": "two-factor authentication was turned off (confirmed with a code or the password)",
    "mfa.recovery_code_used": "a single-use recovery code was used instead of an authenticator code (how many left)",
    "mfa.recovery_codes_regenerated": "new recovery codes were issued (the old ones stopped working)",
    "account.delete_link_sent": "an account without a password asked to delete itself: a link to confirm was "
                                "mailed",
    "account.delete": "someone deleted their own account (one row per workspace they were in, under their pseudonym)",
    # workspace and members
    "workspace.create": "a workspace was created",
    "workspace.update": "workspace settings changed",
    "workspace.sign_in_policy": "the workspace's sign-in policy changed (SSO required, auto-join domains)",
    "workspace.mfa_requirement": "an owner required (or stopped requiring) two-factor authentication for members",
    "workspace.delete": "a workspace and everything in it were deleted (counts of what went)",
    "member.add": "someone was added to the workspace (or their role set)",
    "member.role": "a member's role changed",
    "member.remove": "someone was removed from the workspace",
    "member.leave": "someone left the workspace themselves",
    "invitation.create": "someone was invited to the workspace by email (with a role)",
    "invitation.update": "a pending invitation was sent again with a new role and link",
    "invitation.resend": "a pending invitation was mailed again (new link)",
    "invitation.revoke": "a pending invitation was withdrawn",
    "invitation.accept": "an invitation was accepted and the person joined",
    "token.create": "an API token was created",
    "token.revoke": "an API token was revoked",
    # workflows and runs
    "workflow.create": "a workflow was created",
    "workflow.update": "a workflow's definition changed (compact diff of fields and steps)",
    "workflow.enable": "a workflow was switched on",
    "workflow.disable": "a workflow was switched off",
    "workflow.delete": "a workflow and its runs were deleted",
    "run.start": "someone started a run by hand",
    "run.rerun": "someone re-ran a run",
    "run.cancel": "someone cancelled a run",
    "approval.approve": "someone approved a flow.approval step of a run (with their comment)",
    "approval.reject": "someone rejected a flow.approval step of a run (with their comment)",
    # credentials
    "connection.create": "a connection was created (lists which secret fields were set)",
    "connection.update": "a connection changed (lists which secret fields changed)",
    "connection.delete": "a connection was deleted",
    "connection.oauth_connected": "an OAuth connection was authorised with the provider (scopes granted)",
    "connection.reconnect_needed": "the provider refused to refresh an OAuth connection: it must be reconnected",
    "connection.test": "stored credentials were decrypted and used for a test call",
    "keys.rotate": "secrets were re-encrypted under a new key (one row per affected workspace)",
    # the audit trail itself
    "audit.export": "the audit trail was exported",
    "audit.stream_set": "audit streaming was configured",
    "audit.stream_delete": "audit streaming was switched off",
    "audit.pseudonymise": "rows naming a deleted person were rewritten to a pseudonym (chain re-hashed)",
    # contacts and consent
    "contact.create": "a contact was created",
    "contact.update": "a contact's details changed",
    "contact.delete": "a contact was deleted",
    "contact.import": "contacts were imported from CSV",
    "consent.set": "consent for a channel was granted or withdrawn",
    "suppression.add": "an address or number was put on the suppression list",
    "suppression.remove": "an address or number was taken off the suppression list",
    "messaging.inbound_secret": "the inbound SMS (ClickSend) secret was created or replaced",
    # data governance
    "export.request": "a data export was requested (scope: the workspace or the person's own data)",
    "export.download": "a finished data export was downloaded",
    "subject.erase": "a data subject was erased from run data (kind of identifier and counts, never the value)",
    "retention.prune": "the retention duty deleted expired runs and audit rows (counts and cut-offs, never data)",
}

#: Areas for filters: the part before the dot, in first-seen order.
AREAS: list[str] = list(dict.fromkeys(name.split(".", 1)[0] for name in EVENTS))


def is_known(action: str) -> bool:
    return action in EVENTS
