"""The ``send_system_mail`` Dramatiq actor: delivers one queued SystemMail row.

Like runs, retries are ours (the actor has max_retries=0): :func:`deliver_queued` re-enqueues a
mail with a growing delay after a retryable failure, so the web request that queued the mail
never waits for SMTP. In embedded mode (no Redis) the web process's own worker threads run it;
with Redis, ``flowmate worker`` does (it consumes every declared queue).
"""

from __future__ import annotations

from typing import Any

import dramatiq

QUEUE_NAME = "mail"
ACTOR_NAME = "send_system_mail"
_declared: dict[str, Any] = {}  # the actor on the current broker


def _send_system_mail(mail_id: str) -> None:
    from engine.services.system_mail import deliver_queued

    retry_in = deliver_queued(mail_id)
    if retry_in is not None:
        enqueue_mail(mail_id, delay_s=retry_in)


def declare(broker: dramatiq.Broker) -> Any:
    """Declare the actor on ``broker`` (called by engine.queue.setup_broker)."""
    actor = dramatiq.actor(_send_system_mail, actor_name=ACTOR_NAME, queue_name=QUEUE_NAME, max_retries=0,
                           time_limit=5 * 60 * 1000, broker=broker)
    _declared["broker"], _declared["actor"] = broker, actor
    return actor


def enqueue_mail(mail_id: str, delay_s: float | None = None) -> None:
    """Send the mail id to the queue (never raises: the row stays queued and `requeue_waiting` sends it again)."""
    from engine.queue import log, setup_broker

    broker = setup_broker()
    actor = _declared["actor"] if _declared.get("broker") is broker else declare(broker)
    try:
        actor.send_with_options(args=(mail_id,), delay=int(delay_s * 1000) if delay_s else None)
    except Exception:
        log.exception("mail.enqueue_failed", mail_id=mail_id)
