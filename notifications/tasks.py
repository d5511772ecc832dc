"""Celery tasks of the outbox: thin wrappers that take ids and call services."""

from celery import shared_task

from notifications import services


@shared_task(name="notifications.deliver_outbox", acks_late=True)
def deliver_outbox(outbox_id: int) -> str:
    return services.outbox_deliver(outbox_id=outbox_id)


@shared_task(name="notifications.deliver_outbox_many", acks_late=True)
def deliver_outbox_many(outbox_ids: list[int]) -> dict[str, int]:
    """Deliver several rows, one after another; return how many ended each way."""
    outcomes: dict[str, int] = {}
    for outbox_id in outbox_ids:
        outcome = services.outbox_deliver(outbox_id=int(outbox_id))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@shared_task(name="notifications.outbox_sweep")
def outbox_sweep() -> int:
    return services.outbox_sweep()
