"""Celery tasks of the outbox: thin wrappers that take ids and call services."""

from celery import shared_task

from notifications import services


@shared_task(name="notifications.deliver_outbox", acks_late=True)
def deliver_outbox(outbox_id: int) -> str:
    return services.outbox_deliver(outbox_id=outbox_id)


@shared_task(name="notifications.outbox_sweep")
def outbox_sweep() -> int:
    return services.outbox_sweep()
