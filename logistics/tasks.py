"""Celery tasks of logistics: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from logistics import services
from logistics.models import Shipment


@shared_task(name="logistics.tracking_poll")
def tracking_poll() -> dict:
    return services.tracking_poll()


@shared_task(name="logistics.track_one")
def track_one(shipment_id: int) -> bool:
    shipment = Shipment.objects.filter(pk=shipment_id).first()
    return bool(shipment) and services.track_one(shipment=shipment)
