"""Shipments of machines, spare parts and repair returns, and their tracking timelines.

A shipment belongs to an organisation, may serve tickets and units, and is tracked with a
carrier (logistics.carriers). Its status is the normalised status of its latest tracking
event; `checked_at` says how old that knowledge is, which the customer sees when the carrier
cannot be reached.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from core.fields import EncryptedCharField, EncryptedTextField
from core.translations import in_reader_language


class Direction(models.TextChoices):
    OUTBOUND = "outbound", _("To the customer")
    RETURN = "return", _("Return to us")


class ShipmentKind(models.TextChoices):
    MACHINE = "machine", _("Machine")
    SPARE_PART = "spare_part", _("Spare part")
    REPAIR_RETURN = "repair_return", _("Repair return")


class TrackingStatus(models.TextChoices):
    CREATED = "created", _("Label created")
    PICKED_UP = "picked_up", _("Picked up")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    DELIVERED = "delivered", _("Delivered")
    EXCEPTION = "exception", _("Problem with delivery")
    RETURNED = "returned", _("Returned to sender")


# A shipment in one of these is not tracked any more.
FINAL_STATUSES = (TrackingStatus.DELIVERED, TrackingStatus.RETURNED)


class Shipment(models.Model):
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="shipments",
    )
    direction = models.CharField(
        _("direction"), max_length=16, choices=Direction.choices, default=Direction.OUTBOUND
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ShipmentKind.choices)
    carrier = models.CharField(_("carrier"), max_length=32)
    # The courier company at an aggregator (Kuaidi100's "com", e.g. "shunfeng").
    courier = models.CharField(_("courier"), max_length=32, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=40)
    delivery_address = EncryptedTextField(_("delivery address"))
    # Some couriers ask for the last digits of the recipient's phone before they answer.
    recipient_phone = EncryptedCharField(_("recipient's phone"), max_length=40, blank=True)
    # [{"description": "protective lens D30", "quantity": 2, "name_zh": "保护镜片 D30"}]:
    # the Chinese name is optional (logistics.services._clean_items).
    items = models.JSONField(_("items"), default=list)
    expected_on = models.DateField(_("expected delivery"), null=True, blank=True)
    tickets = models.ManyToManyField(
        "tickets.Ticket",
        verbose_name=_("tickets"),
        through="ShipmentTicket",
        blank=True,
        related_name="shipments",
    )
    units = models.ManyToManyField(
        "equipment.Unit", verbose_name=_("machines"), blank=True, related_name="shipments"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=TrackingStatus.choices, default=TrackingStatus.CREATED
    )
    status_text = models.CharField(_("carrier's words"), max_length=300, blank=True)
    status_at = models.DateTimeField(_("status since"), null=True, blank=True)
    place = models.CharField(_("last place"), max_length=120, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    # Polling: when the carrier was last asked (successfully), when next, failures in a row.
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    next_check_at = models.DateTimeField(
        null=True, blank=True, db_index=True, editable=False, verbose_name=_("next check at")
    )
    check_failures = models.PositiveSmallIntegerField(
        default=0, editable=False, verbose_name=_("failed checks")
    )
    last_error = models.CharField(
        max_length=200, blank=True, editable=False, verbose_name=_("last error")
    )
    late_notified_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("delay notified at")
    )
    # The address and phone were removed (retention).
    address_erased = models.BooleanField(
        default=False, editable=False, verbose_name=_("address erased")
    )
    exception_notified_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("exception notified at")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"], name="shipment_tracking_unique"
            )
        ]
        indexes = [
            models.Index(fields=["organisation", "-created_at"], name="shipment_org_created"),
            models.Index(fields=["tracking_number"], name="shipment_tracking_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.tracking_number}"

    @property
    def items_localized(self) -> list[dict]:
        """[{"quantity", "name"}] with each item's name in the reader's language (the Chinese
        one for a Chinese reader, when the agent gave it)."""
        return [
            {
                "quantity": item.get("quantity", 1),
                "name": in_reader_language(item.get("description", ""), item.get("name_zh", "")),
            }
            for item in self.items or []
            if isinstance(item, dict)
        ]

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def is_late(self, today=None) -> bool:
        today = today or timezone.localdate()
        return not self.is_final and self.expected_on is not None and self.expected_on < today


class ShipmentTicket(models.Model):
    """A ticket a shipment serves; `awaiting` while the ticket is on hold waiting for it."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="links")
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="shipment_links"
    )
    awaiting = models.BooleanField(_("ticket waits for it"), default=False)

    class Meta:
        verbose_name = _("shipment of a ticket")
        verbose_name_plural = _("shipments of tickets")
        constraints = [
            models.UniqueConstraint(fields=["shipment", "ticket"], name="shipment_ticket_once")
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} -> {self.ticket_id}"


class TrackingEvent(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("time"))
    status = models.CharField(_("status"), max_length=20, choices=TrackingStatus.choices)
    text = models.CharField(_("carrier's words"), max_length=300)
    place = models.CharField(_("place"), max_length=120, blank=True)
    source = models.CharField(_("from"), max_length=16)  # poll, push, agent
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        constraints = [
            # The same event told twice (a poll and a push) is kept once.
            models.UniqueConstraint(fields=["shipment", "at", "text"], name="tracking_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.status}"
