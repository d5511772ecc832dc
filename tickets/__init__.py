"""Tickets, their conversation and attachments, queues, SLA engine, escalation and surveys."""
