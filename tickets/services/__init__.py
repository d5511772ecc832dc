"""Ticket services: every write to tickets, split by sub-domain.

Import the sub-modules directly: tickets.services.tickets, .sla, .escalation, .calendars,
.assignment, .attachments, .surveys, .notify.
"""
