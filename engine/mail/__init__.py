"""System mail: FlowMate's own messages to people (invitations, password resets, verification).

Not the ``email.send`` workflow step (that uses a workspace's own SMTP connection). Services
queue a mail with :func:`engine.services.system_mail.queue_mail`; the ``send_system_mail`` job
(declared by :class:`engine.runtime.Runtime`) delivers it in the background with retries through
FLOWMATE_SMTP_URL, or, when none is configured, writes it to a local outbox folder.
"""
